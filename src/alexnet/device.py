"""Which device a command runs on: one rule for training, evaluation and inference."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device | None = "auto", local_rank: int = 0) -> torch.device:
    """``None``/``"auto"`` → ``cuda:LOCAL_RANK`` when a GPU is present, else ``cpu``; ``"cuda"``
    without an index → ``cuda:LOCAL_RANK``. Asking for CUDA without a GPU is a clear error."""
    if name is None or str(name) == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(name)!r} requested but no CUDA GPU is available; use --device cpu")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device
