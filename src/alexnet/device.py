"""Which device a command runs on, and in which precision: one rule each for training, evaluation,
the demo, predict and the benchmarks (:func:`resolve_device`, :func:`resolve_precision`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def resolve_device(name: str | torch.device | None = "auto", local_rank: int = 0) -> torch.device:
    """``None``/``"auto"`` → ``cuda:LOCAL_RANK`` when a CUDA GPU is present, else ``mps`` (Apple's GPU)
    when PyTorch can use it, else ``cpu``; ``"cuda"`` without an index → ``cuda:LOCAL_RANK``. Asking
    for CUDA or MPS where it is not available is a clear error."""
    if name is None or str(name) == "auto":
        if torch.cuda.is_available():
            return torch.device(f"cuda:{local_rank}")
        return torch.device("mps") if mps_is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {str(name)!r} is not one this machine can train or run on; use --device cpu, "
                         f"cuda, cuda:N, mps or auto")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(name)!r} requested but no CUDA GPU is available; use --device cpu")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
        if device.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(name)!r} requested but this machine has {torch.cuda.device_count()} "
                             f"CUDA GPU(s) (cuda:0 ...); use --device cuda or auto")
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


@dataclass(frozen=True)
class Precision:
    """How a net runs on a device: the autocast dtype (None: float32) and the memory format."""

    autocast: torch.dtype | None = None
    channels_last: bool = False

    @property
    def name(self) -> str:
        """``"bf16 autocast"`` or ``"float32"`` (report.json's ``precision``)."""
        if self.autocast is None:
            return "float32"
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.autocast, str(self.autocast)) + " autocast"

    def autocast_context(self, device_type: str):
        return torch.autocast(device_type=device_type, dtype=self.autocast or torch.float32,
                              enabled=self.autocast is not None)

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.ndim == 4 else x


def resolve_precision(device: str | torch.device, amp: str | bool | None = "auto",
                      channels_last: bool | str = "auto") -> Precision:
    """The one precision rule of training, evaluation, the demo, predict and the benchmarks.

    ``amp``: ``"bf16"`` (or True) → bf16 autocast; ``"off"`` (or False) → float32; ``"auto"`` (or
    None) → bf16 autocast on CUDA, float32 elsewhere (on a CPU bf16 pays only where it is multiplied
    in hardware, and CPU runs keep float32 numerics unless asked: the demo asks through
    :func:`cpu_amp`). ``channels_last``: True/False, or ``"auto"`` → on CUDA only (cuDNN's fast
    layout; on the CPU it was not faster: docs/BENCHMARKS.md, "bf16 on a CPU")."""
    device = torch.device(device)
    if amp is True or amp == "bf16":
        autocast = torch.bfloat16
    elif amp is False or amp == "off":
        autocast = None
    elif amp is None or amp == "auto":
        autocast = torch.bfloat16 if device.type == "cuda" else None
    else:
        raise ValueError(f"amp={amp!r}: use auto, bf16 or off")
    if channels_last == "auto":
        channels_last = device.type == "cuda"
    return Precision(autocast, bool(channels_last))


def cpu_amp(device: str | torch.device) -> str:
    """The ``amp`` setting that is fastest for a CPU run on this host: ``"bf16"`` where the CPU
    multiplies bf16 in hardware (:func:`cpu_has_native_bf16`), else ``"off"``; ``"auto"`` on
    other devices (which :func:`resolve_precision` decides)."""
    if torch.device(device).type != "cpu":
        return "auto"
    return "bf16" if cpu_has_native_bf16() else "off"
