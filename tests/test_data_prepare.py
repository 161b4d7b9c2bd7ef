"""alexnet prepare: every source layout, dirty files, resume, statistics, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import data_fixtures as fx
from alexnet.cli.main import main
from alexnet.data.prepare import prepare
from alexnet.data.store import PreparedStore

pytest.importorskip("scipy")


def check_store(out: Path, expected: dict[str, dict[str, tuple[str, str | None]]]) -> None:
    """Every good input once with its label; every bad one in the report with its reason."""
    classes = json.loads((out / "classes.json").read_text())
    assert classes["wnids"] == fx.WNIDS
    summary = json.loads((out / "summary.json").read_text())
    for split, exp in expected.items():
        store = PreparedStore(out, split)
        got = dict(zip(store.sources(), store.labels.tolist()))
        assert len(got) == len(store)                         # no source twice
        good = {s: fx.WNIDS.index(w) for s, (w, reason) in exp.items() if reason is None}
        assert got == good
        reported = {json.loads(line)["source"]: json.loads(line)["reason"]
                    for line in (out / split / "skipped.jsonl").read_text().splitlines()}
        bad = {s: reason for s, (w, reason) in exp.items() if reason is not None}
        assert reported == bad
        s = summary["splits"][split]
        assert s["images"] == len(good) and s["skipped"] == len(bad)
        assert {f["source"] for f in s["skipped_files"]} == set(bad)
        for i in range(len(store)):
            img = store.decode(i)
            assert img.shape == (256, 256, 3) and img.dtype == np.uint8


@pytest.fixture(scope="module")
def ilsvrc(tmp_path_factory):
    root = tmp_path_factory.mktemp("ilsvrc")
    expected = fx.ilsvrc_tree(root / "src")
    out = root / "out"
    summary = prepare(root / "src", out, workers=2, chunk_size=4, progress=False)
    return root / "src", out, expected, summary


def test_ilsvrc_folders_and_devkit(ilsvrc):
    src, out, expected, summary = ilsvrc
    check_store(out, expected)
    names = json.loads((out / "classes.json").read_text())["names"]
    assert names == [fx.WORDS[w] for w in fx.WNIDS]          # from meta.mat
    assert summary["splits"]["train"]["stats"]["pca"] == str(out / "stats" / "pca.json")
    assert summary["ok"] is True


def test_dirty_images_are_converted(ilsvrc):
    src, out, expected, _ = ilsvrc
    store = PreparedStore(out, "train")
    by_name = {Path(s).name: i for i, s in enumerate(store.sources())}
    rotated = store.decode(by_name["rotated.JPEG"]).astype(int)
    # EXIF orientation 6 puts the stored left (red) half on top
    assert rotated[:100, :, 0].mean() > 200 and rotated[:100, :, 2].mean() < 60
    assert rotated[156:, :, 2].mean() > 200 and rotated[156:, :, 0].mean() < 60
    grey = store.decode(by_name["grey.JPEG"]).astype(int)
    assert np.abs(grey[..., 0] - grey[..., 1]).max() <= 3    # grey stays grey, in RGB
    formats = json.loads((out / "summary.json").read_text())["splits"]["train"]["inputs_by_format"]
    assert formats.get("JPEG/CMYK") == 1 and formats.get("PNG/RGB") == 1 and formats.get("JPEG/L") == 1


def test_stats_equal_direct_numpy(ilsvrc):
    _, out, _, _ = ilsvrc
    store = PreparedStore(out, "train")
    imgs = np.stack([store.decode(i) for i in range(len(store))]).astype(np.float64)
    stats = store.stats()
    np.testing.assert_allclose(stats.mean_image, imgs.mean(0), rtol=0, atol=1e-4)  # float32: ulp ≤ 1.5e-5 at 255
    px = imgs.reshape(-1, 3) / 255.0
    cov = np.cov(px, rowvar=False, bias=True)
    # float64 both ways (integer sums with one subtraction vs numpy's two passes): ~1e-16 on values ~0.05
    np.testing.assert_allclose(stats.eigvec @ np.diag(stats.eigval) @ stats.eigvec.T, cov, atol=1e-10)
    assert np.all(np.diff(stats.eigval) <= 0)
    np.testing.assert_allclose(stats.eigvec.T @ stats.eigvec, np.eye(3), atol=1e-10)       # float64 eigh: ~1e-15
    # the val split reads the train statistics
    assert PreparedStore(out, "val").stats().mean_image.shape == (256, 256, 3)


def test_second_run_does_nothing(ilsvrc, capsys):
    src, out, _, _ = ilsvrc
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != "summary.json"
              and p.name not in ("prepare.log.jsonl", ".lock")}   # .lock: who is writing (alexnet.lock)
    summary = prepare(src, out, workers=2, chunk_size=4, progress=False)
    assert all(s.get("already_complete") for s in summary["splits"].values())
    assert "nothing to do" in capsys.readouterr().err
    after = {p: p.stat().st_mtime_ns for p in before}
    assert after == before


def test_kaggle_layout(tmp_path):
    expected = fx.kaggle_tree(tmp_path / "src")
    prepare(tmp_path / "src", tmp_path / "out", workers=1, progress=False)
    check_store(tmp_path / "out", expected)
    names = json.loads((tmp_path / "out" / "classes.json").read_text())["names"]
    assert names == [fx.WORDS[w] for w in fx.WNIDS]


def test_original_tars_without_extracting(tmp_path):
    expected = fx.tar_tree(tmp_path / "src")
    before = sorted(p.name for p in (tmp_path / "src").iterdir())
    prepare(tmp_path / "src", tmp_path / "out", workers=2, chunk_size=3, progress=False)
    check_store(tmp_path / "out", expected)
    assert sorted(p.name for p in (tmp_path / "src").iterdir()) == before   # nothing unpacked
    assert not (tmp_path / "escape.JPEG").exists()


def test_single_imagefolder_as_val_and_unknown_class(tmp_path, ilsvrc):
    src, out, _, _ = ilsvrc
    folder = tmp_path / "valsorted"
    fx.write_folder(folder / fx.WNIDS[2], fx.class_files(40, None))
    fx.write_folder(folder / "n09999999", fx.class_files(41, None))
    with pytest.raises(ValueError, match="n09999999"):
        prepare(folder, out, split="val", progress=False)
    prepare(folder, tmp_path / "out2", split="val", workers=1, progress=False)
    store = PreparedStore(tmp_path / "out2", "val")
    assert store.wnids == [fx.WNIDS[2], "n09999999"] and len(store) == 6
    with pytest.raises(FileNotFoundError, match="no prepared split 'train'"):
        PreparedStore(tmp_path / "out2", "train")


def test_flat_val_without_labels_is_a_clear_error(tmp_path):
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG").write_bytes(fx.jpeg_bytes(fx.picture(40, 40, 1)))
    with pytest.raises(FileNotFoundError, match="devkit"):
        prepare(tmp_path, tmp_path / "out", progress=False)


def test_empty_result_is_an_error(tmp_path):
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "a" / "x.JPEG").write_bytes(b"")
    with pytest.raises(ValueError, match="no image"):
        prepare(tmp_path / "src", tmp_path / "out", progress=False)


def _run_cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    return subprocess.Popen([sys.executable, "-m", "alexnet", "prepare", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow   # ~5 s: 400 pictures, a subprocess killed by SIGKILL, resumed, then once more whole
def test_resume_after_kill_equals_uninterrupted(tmp_path):
    src = tmp_path / "src"
    for k in range(4):
        fx.write_folder(src / f"c{k}", {f"{i}.JPEG": (fx.jpeg_bytes(fx.picture(160, 120, k * 100 + i)), None)
                                        for i in range(100)})
    killed = tmp_path / "killed"
    proc = _run_cli(src, killed, "--workers", "1", "--chunk-size", "8", "--no-progress")
    deadline = time.time() + 60
    while len(list((killed / "train").glob("shard-*.npz"))) < 3 and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((killed / "train").glob("shard-*.npz")))
    assert 3 <= done < 50 and not (killed / "train" / "meta.json").exists()
    summary = prepare(src, killed, workers=2, chunk_size=8, progress=False)["splits"]["train"]
    assert summary["reused_inputs"] >= 8 * done and summary["processed_inputs"] == 400 - summary["reused_inputs"]
    whole = tmp_path / "whole"
    prepare(src, whole, workers=2, chunk_size=8, progress=False)
    a, b = np.load(killed / "train" / "index.npz"), np.load(whole / "train" / "index.npz")
    for key in ("shard", "offset", "length", "label"):
        np.testing.assert_array_equal(a[key], b[key])
    for p in sorted((whole / "train").glob("shard-*.bin")):
        assert p.read_bytes() == (killed / "train" / p.name).read_bytes()
    np.testing.assert_array_equal(np.load(killed / "stats" / "mean_image.npy"), np.load(whole / "stats" / "mean_image.npy"))
    assert json.loads((killed / "stats" / "pca.json").read_text()) == json.loads((whole / "stats" / "pca.json").read_text())
    assert not list((killed / "train").glob(".tmp-*"))


def test_cli_json_strict_and_exit_status(tmp_path, capsys):
    fx.write_folder(tmp_path / "src" / "a", fx.class_files(1, "b"))
    src, out = str(tmp_path / "src"), str(tmp_path / "out")
    assert main(["prepare", src, out, "--json", "--strict", "--no-progress"]) == 1
    summary = json.loads(capsys.readouterr().out)
    s = summary["splits"]["train"]
    assert s["images"] == 3 and s["skipped"] == 3 and s["images_per_class"] == {"min": 3, "max": 3}
    assert set(s["skipped_by_reason"]) == {"corrupt image", "empty file", "not an image"}
    assert "mean_image" in s["stats"]
    assert main(["prepare", src, out]) == 0 and "nothing to do" in capsys.readouterr().err
    assert main(["prepare", str(tmp_path / "nowhere"), str(tmp_path / "out2")]) == 2
    assert "source not found" in capsys.readouterr().err
