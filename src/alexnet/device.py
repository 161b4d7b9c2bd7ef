"""Which device a command runs on: one rule for training, evaluation and inference."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device | None = "auto", local_rank: int = 0) -> torch.device:
    """``None``/``"auto"`` → ``cuda:LOCAL_RANK`` when a GPU is present, else ``cpu``; ``"cuda"``
    without an index → ``cuda:LOCAL_RANK``. Asking for CUDA without a GPU is a clear error."""
    if name is None or str(name) == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    mps = getattr(torch.backends, "mps", None)
    if device is None or device.type not in ("cpu", "cuda", "mps") or (
            device.type == "mps" and not (mps is not None and mps.is_available())):
        raise ValueError(f"device {str(name)!r} is not one this machine can train or run on; use --device cpu, "
                         f"cuda, cuda:N or auto")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(name)!r} requested but no CUDA GPU is available; use --device cpu")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
        if device.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(name)!r} requested but this machine has {torch.cuda.device_count()} "
                             f"CUDA GPU(s) (cuda:0 ...); use --device cuda or auto")
    return device


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX tiles), where bf16
    autocast pays: on such a 2-core AMD EPYC the CPU demo's step ran 1.64× faster under it
    (docs/BENCHMARKS.md, "bf16 on a CPU"); without them oneDNN emulates bf16, which is slower than
    float32. Asked of torch (``torch.cpu._is_*_supported``, private); False where torch cannot say."""
    cpu = getattr(torch, "cpu", None)
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        probe = getattr(cpu, name, None)
        try:
            if probe is not None and probe():
                return True
        except (RuntimeError, AttributeError):
            continue
    return False
