"""benchmarks/data_throughput.py still runs (CI-sized); its numbers are not checked, only their form."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow   # ~10 s: the script in a subprocess, as CI runs it
def test_data_throughput_quick_run_writes_a_complete_result(tmp_path):
    out = tmp_path / "data.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "data_throughput.py"), "--quick",
                           "--workers", "2", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert {"date", "command", "device", "versions", "images", "rows"} <= set(result)
    stages = {(r["stage"].split(" ")[0], r["augment"]) for r in result["rows"]}
    assert {("prepare", "-"), ("loader", "none"), ("loader", "paper")} <= stages
    assert all(math.isfinite(r["images_per_s"]) and r["images_per_s"] > 0 for r in result["rows"])
    assert "targets" in proc.stdout
