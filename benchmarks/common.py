"""What the benchmark scripts share: a timer, the matrix-product rate, and the result file.

The scripts import it as a sibling (``python benchmarks/X.py`` puts benchmarks/ first on sys.path);
the package is installed, so nothing patches sys.path. Every result file records
:func:`alexnet.provenance.provenance` (date, command, commit and whether the tree was dirty, CPU
model and flags, cores, versions) and the load average of the host while it ran.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from alexnet.atomic import atomic_write_text
from alexnet.provenance import provenance

RESULTS = Path(__file__).resolve().parent / "results"


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


class Timer:
    """Elapsed seconds of a block; on CUDA the device is synchronised at both ends, so the time is
    what its stream took, host stalls waiting for data included."""

    def __init__(self, device) -> None:
        self.device, self.seconds = torch.device(device), float("nan")

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def __enter__(self) -> "Timer":
        self._sync()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self._sync()
        self.seconds = time.perf_counter() - self._t0


def best_seconds(device, fn: Callable[[], Any], steps: int, repeats: int, warmup: int) -> float:
    """Best seconds per call of ``fn`` over ``repeats`` timings of ``steps`` calls, after ``warmup``."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        with Timer(device) as t:
            for _ in range(steps):
                fn()
        best = min(best, t.seconds / steps)
    return best


def matmul_tflops(device, m: int, k: int, n: int, dtype: torch.dtype, repeats: int = 3) -> float:
    """TFLOP/s of an (m×k)·(k×n) product in ``dtype`` (best of ``repeats`` timings)."""
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    steps = max(1, min(50, int(2e11 / (2 * m * k * n))))      # about 0.2 TFLOP a timing
    return 2 * m * k * n / best_seconds(device, lambda: a @ b, steps, repeats, warmup=1) / 1e12


def load_average() -> list[float] | None:
    """The host's 1, 5 and 15-minute load averages (other jobs on the cores slow every row)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def started(device=None) -> dict[str, Any]:
    """What a run records at its start: its provenance (the tree as it ran) and the load average."""
    return {"provenance": provenance(device), "load_average_at_start": load_average()}


def write_result(path: str | os.PathLike, result: dict[str, Any], device=None, start: dict | None = None) -> Path:
    """``{"provenance": ..., "load_average": ... (now), **result}`` as indented JSON, atomically;
    ``start`` (:func:`started`) gives the provenance taken when the run began."""
    path = Path(path)
    record = {**(start or {"provenance": provenance(device)}), "load_average": load_average(), **result}
    atomic_write_text(path, json.dumps(record, indent=2, default=str, allow_nan=False) + "\n")
    print(f"wrote {path}", flush=True)
    return path
