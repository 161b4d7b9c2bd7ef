"""studies/warmup_study.py: the recipe's warm-up against none, validated on held-out images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from train_fixtures import write_fashion_idx

SCRIPT = Path(__file__).resolve().parents[1] / "studies" / "warmup_study.py"


def run_study(args: list[str], cache: Path) -> str:
    """The script in a subprocess, as a user runs it (tests do not import the study scripts)."""
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "ALEXNET_CACHE": str(cache)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow   # ~20 s on the shared 2-core machine: two tiny training runs
def test_the_study_writes_every_run_with_its_provenance(tmp_path):
    fm = write_fashion_idx(tmp_path / "fm")
    out = tmp_path / "study.json"
    args = ["--seeds", "1", "--epochs", "1", "--steps", "2", "--batch-size", "16", "--holdout", "16",
            "--data", str(fm), "--work", str(tmp_path / "work"), "--out", str(out)]
    run_study(args, tmp_path / "cache")
    result = json.loads(out.read_text())
    assert [(r["warmup_steps"], r["seed"]) for r in result["runs"]] == [(100, 0), (0, 0)]
    assert result["provenance"]["command"] and "dirty" in result["provenance"]
    for r in result["runs"]:
        events = [json.loads(x) for x in (Path(r["run_dir"]) / "log.jsonl").read_text().splitlines()]
        epoch = [e for e in events if e["event"] == "epoch"][-1]
        test = [e for e in events if e["event"] == "test"][-1]
        assert epoch["val_images"] == 16 and test["test_images"] == 32      # validated on held-out, tested once
        assert r["per_epoch"][-1]["validation_accuracy"] == 1 - epoch["val_top1_error"]
        assert r["test_accuracy"] == 1 - test["test_top1_error"]
        steps = [e for e in events if e["event"] == "step" and e["epoch"] == 0]
        assert r["epoch_1_peak_loss"] == max(e["loss"] for e in steps)
    # the two warm-ups paired by seed: one seed, so a difference and no interval
    by = {r["warmup_steps"]: r for r in result["runs"]}
    row = {p["measure"]: p for p in result["paired"]}["validation accuracy after epoch 1"]
    assert (row["a"], row["b"], row["n"], row["low"]) == (100, 0, 1, None)
    assert row["mean"] == by[100]["per_epoch"][0]["validation_accuracy"] - by[0]["per_epoch"][0]["validation_accuracy"]
    assert "wrote" in run_study(args, tmp_path / "cache")          # finished runs are read back
