"""What the benchmark scripts share: their common options, a timer, the matrix-product rate and the
result file, which records :func:`alexnet.provenance.provenance` of the run's start and the host's load
average at its start and end. The scripts import it as a sibling (``python benchmarks/X.py`` puts
benchmarks/ first on sys.path); the package is installed, so nothing patches sys.path."""

import argparse
import json
import os
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import torch

from alexnet.atomic import atomic_write_text
from alexnet.provenance import provenance

RESULTS = Path(__file__).resolve().parent / "results"


def parser(doc: str, name: str, quick: str) -> argparse.ArgumentParser:
    """The script's options, starting with ``--quick`` (help: ``quick``) and ``--out``."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=quick)
    p.add_argument("--out", type=Path, default=None, help=f"default benchmarks/results/{name}-<device>-<date>.json")
    return p


@contextmanager
def timer(device):
    """``with timer(device) as t:`` sets ``t.seconds`` to the block's time; on CUDA the device is synchronised
    at both ends, so the time is what its stream took, host stalls waiting for data included."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda device: None)
    t = SimpleNamespace(seconds=float("nan"))
    sync(device)
    t0 = time.perf_counter()
    yield t
    sync(device)
    t.seconds = time.perf_counter() - t0


def best_seconds(device, fn, steps: int, repeats: int, warmup: int) -> float:
    """Best seconds per call of ``fn`` over ``repeats`` timings of ``steps`` calls, after ``warmup``."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        with timer(device) as t:
            for _ in range(steps):
                fn()
        best = min(best, t.seconds / steps)
    return best


def matmul_tflops(device, m: int, k: int, n: int, dtype: torch.dtype, repeats: int = 3) -> float:
    """TFLOP/s of an (m×k)·(k×n) product in ``dtype`` (best of ``repeats`` timings)."""
    a, b = torch.randn(m, k, device=device).to(dtype), torch.randn(k, n, device=device).to(dtype)
    steps = max(1, min(50, int(2e11 / (2 * m * k * n))))      # about 0.2 TFLOP a timing
    return 2 * m * k * n / best_seconds(device, lambda: a @ b, steps, repeats, warmup=1) / 1e12


def load_average() -> list[float] | None:
    """The host's 1, 5 and 15-minute load averages (other jobs on the cores slow every row)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def started(device=None) -> dict:
    """What a run records at its start: its provenance (the tree as it ran) and the load average."""
    return {"provenance": provenance(device), "load_average_at_start": load_average()}


def write_result(args, name: str, device, start: dict, result: dict, out: Path | None = None) -> dict:
    """``{**start, "load_average": (now), "quick", "settings": (every option), **result}`` as indented JSON,
    atomically, to ``out``, else ``args.out``, else benchmarks/results/<name>-<device type>-<date>.json."""
    record = {**start, "load_average": load_average(), "quick": getattr(args, "quick", False),
              "settings": {k: str(v) for k, v in vars(args).items()}, **result}
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    path = Path(out or args.out or RESULTS / f"{name}-{torch.device(device).type}-{date}.json")
    atomic_write_text(path, json.dumps(record, indent=2, default=str, allow_nan=False) + "\n")
    print(f"wrote {path}", flush=True)
    return record
