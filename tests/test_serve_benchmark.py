"""benchmarks/serve_load.py still runs end to end (a tiny run in a subprocess) and writes what
docs/BENCHMARKS.md reads: rows, the memory check, the malformed mix, provenance and the load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_serve_load_quick_run(tmp_path):
    out = tmp_path / "serve.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "serve_load.py"), "--clients", "1,4",
                           "--seconds", "0.5", "--memory-requests", "100", "--malformed", "10", "--threads", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert {(r["batching"], r["clients"]) for r in result["rows"]} == {(b, c) for b in ("on", "off") for c in (1, 4)}
    assert all(r["errors"] == 0 and r["requests"] > 0 for r in result["rows"])
    assert result["memory"]["requests"] == 100 and result["memory"]["errors"] == 0
    mix = result["malformed_mix"]
    assert mix["good_ok"] == 30 and mix["bad_4xx"] == 10 and mix["server_up_after"] and mix["answer_after_equal"]
    assert result["provenance"]["command"] and len(result["provenance"]["commit"]) == 40
    assert len(result["load_average_at_start"]) == 3 and len(result["load_average"]) == 3
