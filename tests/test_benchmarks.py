"""The training-speed benchmark: it still runs (CPU, --quick), its JSON has the promised keys,
the synthetic JPEGs look like photographs rather than noise, and the chart is drawn."""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
# alexnet2012's multiply-accumulates for one 224-pixel image, layer by layer: output maps × output
# side² × inputs per output (conv2, conv4, conv5 see one tower's 48 or 192 maps), then the fc layers
MACS_224 = (96 * 55**2 * 11 * 11 * 3 + 256 * 27**2 * 5 * 5 * 48 + 384 * 13**2 * 3 * 3 * 256
            + 384 * 13**2 * 3 * 3 * 192 + 256 * 13**2 * 3 * 3 * 192 + 9216 * 4096 + 4096 * 4096 + 4096 * 1000)


@pytest.fixture(scope="module")
def bench():
    if str(BENCH) not in sys.path:  # the scripts import each other as top-level modules
        sys.path.insert(0, str(BENCH))
    return (importlib.import_module("common"), importlib.import_module("train_throughput"),
            importlib.import_module("plot_results"))


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory):
    """One --quick run in a subprocess, as CI runs it (one architecture to keep it short)."""
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "result.json"
    env = {**os.environ, "ALEXNET_CACHE": str(tmp / "cache"), "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(BENCH / "train_throughput.py"), "--quick", "--device", "cpu", "--out", str(out),
         "--archs", "alexnet2012", "--workers", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), out, proc.stdout


def _positive_finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


@pytest.mark.slow   # the --quick run: ~30 s on two CPU cores
def test_quick_run_writes_every_promised_key(quick_result):
    result, out, stdout = quick_result
    for key in ("device", "date", "end_to_end_images_per_s", "model_only_images_per_s", "baseline_images_per_s",
                "eval_10view_seconds_per_50k", "eval_centre_seconds_per_50k", "versions", "command", "configs",
                "notes", "matmul_peak"):
        assert key in result, key
    assert result["device"] == "cpu"
    assert set(result["versions"]) == {"python", "torch", "torchvision", "cuda", "cudnn"}
    for key in ("end_to_end_images_per_s", "model_only_images_per_s", "baseline_images_per_s",
                "eval_10view_seconds_per_50k", "eval_centre_seconds_per_50k"):
        assert _positive_finite(result[key]), (key, result[key])
    assert "--quick" in result["command"]
    assert result["quick"] is True and any("--quick" in n for n in result["notes"])
    # the log beside the JSON ends with the end event
    log = [json.loads(line) for line in out.with_suffix(".log.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "start" and log[-1]["event"] == "end"
    assert "| model_only | alexnet2012 b2 bf16 |" in stdout


@pytest.mark.slow
def test_quick_run_rows_are_consistent(quick_result):
    result, *_ = quick_result
    rows = result["configs"]
    sections = {r["section"] for r in rows}
    assert sections == {"model_only", "baseline", "end_to_end", "eval"}
    for r in rows:
        assert _positive_finite(r["images_per_s"]), r
        assert _positive_finite(r["seconds"]), r
    model_rows = [r for r in rows if r["section"] == "model_only"]
    assert {(r["arch"], r["precision"], r["compile"]) for r in model_rows} == {
        ("alexnet2012", "fp32", False), ("alexnet2012", "bf16", False)}
    best_bf16 = max(r["images_per_s"] for r in model_rows if r["precision"] == "bf16")
    assert result["model_only_images_per_s"] == best_bf16
    for r in model_rows:
        # the rate times the time is the work of the timed steps: a training step costs the forward
        # pass's MACs three times (forward, input gradients, weight gradients), 2 FLOPs each; the
        # tolerances are for float64 rounding only
        work = 6 * MACS_224 * r["batch_size"] * r["steps"]
        assert r["tflops"] * 1e12 * r["seconds"] == pytest.approx(work, rel=1e-9)
        peak = result["matmul_peak"]["tflops"]
        assert r["fraction_of_matmul_peak"] * peak == pytest.approx(r["tflops"], rel=1e-9)
    ten = next(r for r in rows if r["section"] == "eval" and r["views"] == 10)
    assert ten["seconds_per_50k"] == pytest.approx(50_000 / ten["images_per_s"], rel=1e-9)  # float64 rounding
    assert result["eval_10view_seconds_per_50k"] == ten["seconds_per_50k"]
    e2e = next(r for r in rows if r["section"] == "end_to_end")
    assert e2e["arch"] == "alexnet2012" and e2e["precision"] == "fp32"  # the trainer's amp=auto on a CPU
    assert result["ratios"]["end_to_end_over_baseline"] == pytest.approx(          # float64 rounding only
        result["end_to_end_images_per_s"] / result["baseline_images_per_s"], rel=1e-9)


def test_synthetic_jpegs_are_deterministic_photograph_like_and_reused(bench, tmp_path):
    common, *_ = bench
    m = common.write_synthetic_jpegs(tmp_path / "a", num_images=6, num_classes=3, workers=1)
    files = sorted((tmp_path / "a").rglob("*.JPEG"))
    assert len(files) == 6 and m["num_images"] == 6
    assert sorted(p.parent.name for p in files) == ["n00000000"] * 2 + ["n00000001"] * 2 + ["n00000002"] * 2
    assert m["bytes"] == sum(p.stat().st_size for p in files)
    for p in files:
        with Image.open(p) as img:
            assert img.format == "JPEG" and img.mode == "RGB"
            assert img.size in common.IMAGE_SIZES
            x = np.asarray(img, dtype=np.float64).mean(axis=2)
        # structure, not noise: neighbouring pixels are strongly correlated
        r = np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1]
        assert r > 0.8, (p, r)
        assert x.std() > 10  # and not flat either
    # same seed → same bytes; reuse leaves the files alone; other arguments rewrite
    common.write_synthetic_jpegs(tmp_path / "b", num_images=6, num_classes=3, workers=1)
    assert [p.read_bytes() for p in files] == [p.read_bytes() for p in sorted((tmp_path / "b").rglob("*.JPEG"))]
    mtimes = [p.stat().st_mtime_ns for p in files]
    assert common.write_synthetic_jpegs(tmp_path / "a", num_images=6, num_classes=3, workers=1) == m
    assert [p.stat().st_mtime_ns for p in files] == mtimes
    m2 = common.write_synthetic_jpegs(tmp_path / "a", num_images=6, num_classes=3, seed=5, workers=1)
    assert m2["seed"] == 5 and files[0].read_bytes() != (tmp_path / "b" / files[0].relative_to(tmp_path / "a")
                                                         ).read_bytes()


def test_synthetic_jpegs_reject_empty_requests(bench, tmp_path):
    common, *_ = bench
    with pytest.raises(ValueError, match="at least one image"):
        common.write_synthetic_jpegs(tmp_path, num_images=0)


def test_timer_measures_wall_time_on_cpu(bench):
    common, *_ = bench
    with common.Timer("cpu") as t:
        time.sleep(0.05)
    # seconds, not ms: sleep waits ≥ 0.05 s (0.045 for clock granularity), and even a loaded machine
    # wakes it well within 1 s
    assert 0.045 < t.seconds < 1.0


def _fake_result(rows, **extra):
    return {"device": "NVIDIA Fake", "date": "2026-01-01", "versions": {"torch": "x"}, "configs": rows, **extra}


def test_summary_picks_the_best_alexnet2012_bf16_row_and_computes_ratios(bench):
    _, tt, _ = bench
    rows = [
        {"section": "model_only", "name": "a", "arch": "alexnet2012", "precision": "bf16", "images_per_s": 30_000.0},
        {"section": "model_only", "name": "b", "arch": "alexnet2012", "precision": "bf16", "images_per_s": 40_000.0},
        {"section": "model_only", "name": "c", "arch": "alexnet2012", "precision": "tf32", "images_per_s": 90_000.0},
        {"section": "model_only", "name": "d", "arch": "alexnet_owt", "precision": "bf16", "images_per_s": 99_000.0},
        {"section": "end_to_end", "name": "e", "images_per_s": 32_000.0},
        {"section": "baseline", "name": "f", "images_per_s": 4_000.0},
        {"section": "eval", "name": "g", "views": 10, "images_per_s": 5_000.0, "seconds_per_50k": 10.0},
        {"section": "eval", "name": "h", "views": 1, "images_per_s": 50_000.0, "seconds_per_50k": 1.0},
    ]
    result = _fake_result(rows)
    tt.summarize_result(result)
    assert result["model_only_images_per_s"] == 40_000.0
    assert result["end_to_end_images_per_s"] == 32_000.0
    assert result["baseline_images_per_s"] == 4_000.0
    assert result["eval_10view_seconds_per_50k"] == 10.0 and result["eval_centre_seconds_per_50k"] == 1.0
    assert result["ratios"]["end_to_end_over_baseline"] == pytest.approx(8.0)    # approx: float64 division
    assert result["ratios"]["end_to_end_over_model_only"] == pytest.approx(0.8)
    assert result["ratios"]["end_to_end_over_paper"] == pytest.approx(32_000 / 240)
    assert result["ratios"]["imagenet_90_epochs_minutes"] == pytest.approx(90 * 1_281_167 / 32_000 / 60)
    table = tt.format_table(result)
    assert "| end_to_end | e |  | 32,000 | 8.00 | 133 |" in table


def test_summary_leaves_skipped_sections_empty(bench):
    _, tt, _ = bench
    result = _fake_result([{"section": "baseline", "name": "f", "images_per_s": 100.0}])
    tt.summarize_result(result)
    assert result["end_to_end_images_per_s"] is None and result["model_only_images_per_s"] is None
    assert result["ratios"]["end_to_end_over_baseline"] is None


def test_arguments_are_checked(bench):
    _, tt, _ = bench
    with pytest.raises(SystemExit):
        tt.parse_args(["--quick", "--num-images", "3", "--num-classes", "5"])
    with pytest.raises(SystemExit):
        tt.parse_args(["--quick", "--steps", "0"])
    args = tt.parse_args(["--quick"])
    assert args.compile is False and args.batch_sizes == [2]
    assert tt.parse_args([]).compile is True


@pytest.mark.slow
def test_plot_draws_a_png_and_labels_cpu_runs(bench, tmp_path, quick_result):
    _, _, plot_results = bench
    _, out, *_ = quick_result
    png = tmp_path / "chart.png"
    assert plot_results.main([str(out), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = plot_results.load_result(out)
    assert plot_results.panel_title(result).startswith("CPU")
    assert "smoke run" in plot_results.panel_title(result)


def test_plot_rejects_files_that_are_not_results(bench, tmp_path, capsys):
    _, _, plot_results = bench
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"device": "cpu"}))
    assert plot_results.main([str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert "missing date, configs" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
