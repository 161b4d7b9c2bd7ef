"""Which device a command runs on: one rule for training, evaluation and inference."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device | None = "auto", local_rank: int = 0) -> torch.device:
    """``None``/``"auto"`` → ``cuda:LOCAL_RANK`` when a CUDA GPU is present, else ``mps`` (Apple's GPU)
    when PyTorch can use it, else ``cpu``; ``"cuda"`` without an index → ``cuda:LOCAL_RANK``. Asking
    for CUDA or MPS where it is not available is a clear error."""
    if name is None or str(name) == "auto":
        if torch.cuda.is_available():
            return torch.device(f"cuda:{local_rank}")
        return torch.device("mps") if mps_is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(name)!r} requested but no CUDA GPU is available; use --device cpu")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    if device.type == "mps" and not mps_is_available():
        raise ValueError(f"device {str(name)!r} requested but PyTorch cannot use an Apple GPU (MPS) here "
                         f"(it needs an Apple-silicon Mac and a macOS build of torch); use --device cpu")
    return device


def mps_is_available() -> bool:
    """Whether PyTorch can run on Apple's GPU (Metal Performance Shaders); False on builds without it."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


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
