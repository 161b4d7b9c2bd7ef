"""benchmarks/gpu_check.py (everything a GPU must show, one command), benchmarks/lrn_speed.py and
benchmarks/cpu_step_speed.py still run: their CPU dry runs, as CI runs them, write every promised key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("cuda_tests", "model_only", "end_to_end", "baseline", "eval", "fashion_mnist", "lrn")


@pytest.mark.slow
def test_gpu_check_dry_run_runs_every_stage_and_writes_one_json(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "ALEXNET_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "gpu_check.json").read_text())
    for stage in STAGES:
        assert result[stage]["status"] == "ok", (stage, result[stage])
    assert result["dry_run"] is True and result["device"] == "cpu"
    for key in ("end_to_end_images_per_s", "baseline_images_per_s", "model_only_images_per_s"):
        assert result[key] > 0, key
    # no GPU here: the cuda tests are collected and skipped, none deselected by mistake
    assert result["cuda_tests"]["skipped"] >= 4 and result["cuda_tests"]["failed"] == 0
    runs = result["fashion_mnist"]["runs"]
    assert set(runs) == {"d2l", "paper"}
    assert runs["d2l"]["optimizer"] == "adam" and runs["paper"]["optimizer"] == "sgd"
    assert all(len(r["test_accuracy_per_epoch"]) == 2 for r in runs.values())
    # the targets are judged only on a real run
    assert all(t["met"] is None for t in result["targets"].values())
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and "gpu_check.log.jsonl" in files, files
    log = [json.loads(line) for line in (out / "gpu_check.log.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "start" and log[-1]["event"] == "end"


@pytest.mark.slow
def test_lrn_speed_quick_run_reports_the_ratio_it_measured(tmp_path):
    out = tmp_path / "lrn.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "lrn_speed.py"), "--quick", "--device", "cpu",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    by = {r["name"]: r["images_per_s"] for r in result["rows"]}
    # the ratio of the two measured rates, recomputed: float64 rounding only
    assert result["step_lrn_over_no_lrn"] == pytest.approx(by["lrn=True (the paper)"] / by["lrn=False"])
    assert {r["section"] for r in result["rows"]} == {"layer", "step"}
    assert result["quick"] is True and "--quick" in result["command"]


@pytest.mark.slow
def test_cpu_step_speed_quick_run_reports_what_it_measured(tmp_path):
    out = tmp_path / "cpu-step.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cpu_step_speed.py"), "--quick",
                           "--threads", "1", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    by = {r["name"]: r["images_per_s"] for r in result["rows"]}
    assert set(by) == {"float32", "bf16 autocast", "float32, channels-last", "bf16 autocast, channels-last"}
    assert result["ratios"]["1 threads"]["bf16_over_float32"] == pytest.approx(by["bf16 autocast"] / by["float32"])
    assert all(r["threads"] == 1 and r["batch_size"] == 4 for r in result["rows"])
    assert {"cpu_model", "avx512_bf16", "amx_bf16", "onednn_bf16"} <= set(result["cpu"])
    assert (out.with_suffix(".log.jsonl")).is_file() and result["versions"]["torch"]
