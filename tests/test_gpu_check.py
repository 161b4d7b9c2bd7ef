"""benchmarks/gpu_check.py (everything a GPU must show, one command) still runs: its CPU dry run, as CI
runs it, writes every promised key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("cuda_tests", "model_only", "lrn", "prepare", "end_to_end", "eval", "baseline", "fashion_mnist")


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
    assert result["provenance"]["device"] == "cpu" and result["provenance"]["cpu_model"]
    for key in ("end_to_end_images_per_s", "baseline_images_per_s", "model_only_images_per_s"):
        assert result[key] > 0, key
    # no GPU here: the cuda tests are collected and skipped, none deselected by mistake
    assert result["cuda_tests"]["skipped"] >= 4 and result["cuda_tests"]["failed"] == 0
    # the model-only rows are roofline.py's: bf16, channels-last, FLOPs counted, against the peaks
    assert {r["arch"] for r in result["model_only"]["rows"]} == {"alexnet2012", "alexnet_owt"}
    assert all(r["precision"] == "bf16" and r["flops_per_step"] > 0 for r in result["model_only"]["rows"])
    # the LRN stage is roofline.py --lrn: the step with LRN, without it, with torch's, with unfused SGD
    assert {r["variant"] for r in result["lrn"]["rows"]} == {"default", "no_lrn", "torch_lrn", "unfused_sgd"}
    assert all(v > 0 for r in result["lrn"]["lrn"]["ratios"].values() for v in r.values())
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

