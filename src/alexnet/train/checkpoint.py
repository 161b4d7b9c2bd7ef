"""Resumable checkpoints: tensors, numbers, strings, lists and dicts only, written atomically.

    save_checkpoint(run_dir / "checkpoint.pt", state)      # temp file + fsync + rename
    state = load_checkpoint(run_dir / "checkpoint.pt")      # torch.load(weights_only=True)

``state`` (see :meth:`alexnet.train.loop.Trainer.state_dict`) holds ``format``, ``model``
and ``optimizer`` state dicts, ``schedule`` (numbers), ``epoch`` (the epoch in progress),
``batch`` (batches of that epoch already trained), ``step`` (global step), ``history``
(per-epoch metrics) and ``config``. Randomness needs no saved state: step t on rank r draws
from seeds derived from (seed, r, t) (see loop.py), so a resumed run draws the same numbers.

Nothing is unpickled: ``weights_only=True`` refuses anything but tensors and plain containers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_path
from ..weights import CHECKPOINT_NAME

CHECKPOINT_FORMAT = "alexnet-checkpoint/1"
__all__ = ["CHECKPOINT_NAME", "CHECKPOINT_FORMAT", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` so that a kill at any moment leaves the previous file intact."""
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (a run directory is accepted too)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: pass the run directory of an `alexnet train` "
                                f"run that finished at least one epoch or was interrupted")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for damaged or non-tensor files
        raise ValueError(f"{path} is not a readable checkpoint ({e}); it may be damaged or not "
                         f"written by `alexnet train`") from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an alexnet checkpoint (format "
                         f"{state.get('format') if isinstance(state, dict) else type(state).__name__!r}, "
                         f"expected {CHECKPOINT_FORMAT!r})")
    return state
