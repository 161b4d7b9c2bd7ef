"""benchmarks/gpu_check.py (everything a GPU must show, one command) and benchmarks/lrn.py still run:
their CPU dry runs, as CI runs them, write every promised key."""

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
    assert result["provenance"]["device"] == "cpu" and result["provenance"]["cpu_model"]
    for key in ("end_to_end_images_per_s", "baseline_images_per_s", "model_only_images_per_s"):
        assert result[key] > 0, key
    # no GPU here: the cuda tests are collected and skipped, none deselected by mistake
    assert result["cuda_tests"]["skipped"] >= 4 and result["cuda_tests"]["failed"] == 0
    # the model-only rows are roofline.py's: bf16, channels-last, FLOPs counted, against the peaks
    assert {r["arch"] for r in result["model_only"]["rows"]} == {"alexnet2012", "alexnet_owt"}
    assert all(r["precision"] == "bf16" and r["flops_per_step"] > 0 for r in result["model_only"]["rows"])
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


@pytest.mark.slow   # ~20 s: the LRN layer twice and four steps at batch 4
def test_lrn_quick_run_measures_the_layer_and_the_step_with_and_without_it(tmp_path):
    out = tmp_path / "lrn.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "lrn.py"), "--quick", "--device", "cpu",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    steps = {r["name"]: r for r in result["rows"] if r["section"] == "step"}
    assert set(steps) == {"lrn=True (the paper)", "lrn=False", "torch.nn.LocalResponseNorm in place",
                          "lrn=True, SGD without the fused kernel"}
    assert [r["lrn"] for r in steps.values()] == [True, False, True, True]
    assert all(r["batch_size"] == 4 and r["input_size"] == 64 and r["images_per_s"] > 0 for r in steps.values())
    assert len([r for r in result["rows"] if r["section"] == "layer"]) == 2
    assert result["step_lrn_over_no_lrn"] > 0 and result["provenance"]["commit"]
