"""alexnet prepare from Hugging Face parquet shards (``image`` {bytes, path}, ``label``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import data_fixtures as fx
from alexnet.data import process
from alexnet.data.prepare import prepare
from alexnet.data.sources import discover
from alexnet.data.store import PreparedStore

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

NAMES = [fx.WORDS[w] for w in fx.WNIDS]          # ClassLabel names, in label order
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def write_shard(path: Path, rows: list[tuple[bytes | None, int | None]], names: list[str] | None,
                row_group_size: int = 3, image_null: set[int] = frozenset()) -> None:
    meta = None
    if names is not None:
        meta = {"huggingface": json.dumps({"info": {"features": {
            "image": {"_type": "Image"}, "label": {"names": names, "_type": "ClassLabel"}}}})}
    schema = pa.schema([("image", IMAGE), ("label", pa.int64())], metadata=meta)
    images = [None if i in image_null else {"bytes": b, "path": f"img{i}.jpg"} for i, (b, _) in enumerate(rows)]
    table = pa.table({"image": pa.array(images, IMAGE), "label": pa.array([y for _, y in rows], pa.int64())},
                     schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)


def good(seed: int, label: int) -> tuple[bytes, int]:
    img = fx.picture(60 + seed % 7 * 6, 44 + seed % 5 * 4, 500 + seed)
    return (fx.png_bytes(img) if seed % 5 == 0 else fx.jpeg_bytes(img)), label


def hf_dataset(root: Path) -> dict[str, dict[str, tuple[int, str | None, bytes | None]]]:
    """root/data/{train-0000{0,1}-of-00002,validation-00000-of-00001,test-00000-of-00001}.parquet;
    returns {split: {source: (label index, expected reason or None, image bytes)}}."""
    data = root / "data"
    truncated = fx.jpeg_bytes(fx.picture(70, 50, 96))
    truncated = truncated[: len(truncated) // 2]
    shards = {
        "train-00000-of-00002.parquet": [good(i, i % 3) for i in range(7)]
        + [(truncated, 1), (None, 2), good(90, -1)],
        "train-00001-of-00002.parquet": [good(10 + i, (i + 1) % 3) for i in range(5)]
        + [good(91, 7), (b"", 0), good(92, None)] + [good(20, 2)],
        "validation-00000-of-00001.parquet": [good(30 + i, (2 * i) % 3) for i in range(5)] + [(None, 1)],
    }
    expected: dict[str, dict] = {"train": {}, "val": {}}
    null_struct = {"train-00001-of-00002.parquet": set(), "train-00000-of-00002.parquet": set(),
                   "validation-00000-of-00001.parquet": {5}}          # a null `image` struct
    for name, rows in shards.items():
        write_shard(data / name, rows, NAMES, image_null=null_struct[name])
        split = "train" if name.startswith("train") else "val"
        for r, (b, y) in enumerate(rows):
            if y is None or y == -1:
                reason = "unlabelled"
            elif y >= len(NAMES):
                reason = "unknown class"
            elif b is None:
                reason = "missing image"
            elif b == b"":
                reason = "empty file"
            elif b is truncated:
                reason = "corrupt image"
            else:
                reason = None
            expected[split][f"{data / name}#{r}"] = (y, reason, b)
    write_shard(data / "test-00000-of-00001.parquet", [good(40 + i, -1) for i in range(3)], NAMES)
    return expected


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    expected = hf_dataset(root / "src")
    out = root / "out"
    summary = prepare(root / "src", out, workers=2, chunk_size=4, progress=False)
    return root / "src", out, expected, summary


def test_every_good_row_once_with_its_label_and_bad_rows_reported(hf):
    src, out, expected, summary = hf
    classes = json.loads((out / "classes.json").read_text())
    assert classes["wnids"] == NAMES and classes["names"] == NAMES     # class index = HF label
    for split, exp in expected.items():
        store = PreparedStore(out, split)
        got = dict(zip(store.sources(), store.labels.tolist()))
        assert len(got) == len(store)
        good_rows = {s: y for s, (y, reason, _) in exp.items() if reason is None}
        assert got == good_rows
        reported = {json.loads(line)["source"]: json.loads(line)["reason"]
                    for line in (out / split / "skipped.jsonl").read_text().splitlines()}
        assert reported == {s: reason for s, (_, reason, _) in exp.items() if reason is not None}
        s = summary["splits"][split]
        assert s["images"] == len(good_rows) and s["skipped"] == len(reported)
        assert any("test shard" in n for n in s["notes"])
        for i, source in enumerate(store.sources()):          # the right row's pixels
            want = process.process_jpeg(exp[source][2], 256, process.JPEG_QUALITY)[1]
            np.testing.assert_array_equal(store.decode(i), want)
    assert summary["splits"]["train"]["inputs_by_format"].get("PNG/RGB", 0) >= 2


def test_stats_and_second_run_does_nothing(hf, capsys):
    src, out, _, summary = hf
    assert (out / "stats" / "mean_image.npy").is_file() and (out / "stats" / "pca.json").is_file()
    assert summary["splits"]["train"]["stats"]["pca"] == str(out / "stats" / "pca.json")
    assert PreparedStore(out, "train").stats().mean_image.shape == (256, 256, 3)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()
              and p.name not in ("summary.json", "prepare.log.jsonl", ".lock")}   # .lock: alexnet.lock
    again = prepare(src, out, workers=2, chunk_size=4, progress=False)
    assert all(s.get("already_complete") for s in again["splits"].values())
    assert "nothing to do" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_resume_redoes_only_missing_shards(hf, tmp_path):
    src, out, _, _ = hf
    part = tmp_path / "part"
    prepare(src, part, split="train", workers=1, chunk_size=4, progress=False)
    (part / "train" / "meta.json").unlink()                       # as if killed before the end
    (part / "train" / "shard-00001.npz").unlink()
    s = prepare(src, part, split="train", workers=1, chunk_size=4, progress=False)["splits"]["train"]
    assert s["processed_inputs"] == 4 and s["reused_inputs"] == 12      # 16 labelled rows, chunks of 4
    for key in ("shard", "offset", "length", "label"):
        np.testing.assert_array_equal(np.load(part / "train" / "index.npz")[key],
                                      np.load(out / "train" / "index.npz")[key])


def test_each_row_group_read_once_per_chunk(hf, monkeypatch):
    src, _, _, _ = hf
    items = discover(src, "train")["train"].items
    calls = []
    real = process._load_row_group
    monkeypatch.setattr(process, "_load_row_group", lambda p, g: calls.append((p, g)) or real(p, g))
    for it in items:
        try:
            process.read_item(it)
        except process.Skip:
            pass
    process.release_readers()
    groups = {(it.path, it.offset) for it in items}
    assert sorted(calls) == sorted(groups) and len(calls) == len(groups)


def test_listing_does_not_hold_image_bytes(hf):
    src, _, _, _ = hf
    found = discover(src)
    assert set(found) == {"train", "val"}
    for s in found.values():
        assert s.kind == "hf-parquet" and s.class_ids == NAMES
        assert all(it.kind == "parquet" and it.data is None for it in s.items)


def test_without_classlabel_names_ids_are_padded_labels(tmp_path):
    write_shard(tmp_path / "plain" / "0000.parquet", [good(1, 0), good(2, 11), good(3, 3)], None,
                row_group_size=2)
    found = discover(tmp_path / "plain")
    assert list(found) == ["train"]
    ids = found["train"].class_ids
    assert ids == [f"{i:02d}" for i in range(12)] and sorted(ids) == ids
    prepare(tmp_path / "plain", tmp_path / "out", workers=1, progress=False)
    store = PreparedStore(tmp_path / "out", "train")
    assert store.labels.tolist() == [0, 11, 3] and store.num_classes == 12


def test_duplicate_names_get_unique_ids(tmp_path):
    write_shard(tmp_path / "d" / "train-0.parquet", [good(1, 0), good(2, 2)], ["crane", "tench", "crane"])
    s = discover(tmp_path / "d")["train"]
    assert s.class_ids == ["crane #0", "tench", "crane #2"]
    assert s.names == {"crane #0": "crane", "tench": "tench", "crane #2": "crane"}


def test_missing_pyarrow_is_a_clear_error(hf, monkeypatch):
    src, _, _, _ = hf
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match="pip install pyarrow"):
        discover(src)


def test_damaged_shard_is_reported(tmp_path):
    write_shard(tmp_path / "s" / "train-00000-of-00002.parquet", [good(1, 0), good(2, 1)], NAMES)
    (tmp_path / "s" / "train-00001-of-00002.parquet").write_bytes(b"PAR1 not really parquet")
    s = discover(tmp_path / "s")["train"]
    assert len(s.items) == 2
    assert [(Path(src).name, reason) for src, reason, _ in s.skipped] == [
        ("train-00001-of-00002.parquet", "unreadable parquet")]
