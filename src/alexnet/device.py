"""Which device a command runs on, and in which precision: :func:`resolve_device`; the precision of
evaluation, predict and the benchmarks (:func:`resolve_precision`); and the fast path of a training
run (``alexnet train``, the demo), chosen for the host with its reasons (:func:`choose_fast_path`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

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
    """The precision rule of evaluation, predict and the benchmarks, and of training's explicit settings
    (a training run's "auto" is :func:`choose_fast_path`'s).

    ``amp``: ``"bf16"`` (or True) → bf16 autocast; ``"off"`` (or False) → float32; ``"auto"`` (or
    None) → bf16 autocast on CUDA, float32 elsewhere (on a CPU bf16 pays only where it is multiplied
    in hardware, and CPU evaluation and inference keep float32 numerics unless asked; training decides
    its own "auto" in :func:`choose_fast_path`). ``channels_last``: True/False, or ``"auto"`` → on
    CUDA only (cuDNN's fast layout; on the CPU it was not faster: docs/BENCHMARKS.md, "bf16 on a CPU")."""
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


#: Where the CPU choices of :func:`choose_fast_path` were measured (benchmarks/results/, docs/BENCHMARKS.md):
#: a 2-core AMD EPYC with AVX-512 BF16 and no AMX, torch 2.14.1, the demo's step (64 px, batch 128).
CPU_EVIDENCE = {
    "amp": "bf16 autocast made the demo's step 1.64× faster than float32 (515 against 314 images/s, "
           "benchmarks/results/cpu-step-2026-12-02.json; 604–665 against 206–256 in "
           "roofline-cpu-2026-12-05.json and roofline-cpu-2026-12-05-compiled.json)",
    "compile_bf16": "the compiled bf16 step ran 0.46× eager (276 against 604 images/s, "
                    "benchmarks/results/roofline-cpu-2026-12-05-compiled.json)",
    "compile_fp32": "the compiled float32 step ran 1.29× eager (330 against 256 images/s, "
                    "benchmarks/results/roofline-cpu-2026-12-05-compiled.json), but its first step, the "
                    "compilation, took 132 s (roofline-cpu-2026-12-04-compiled.json, a loaded host): at those "
                    "rates it pays back after about 150,000 images (≈1,200 steps of 128); compiled float32 was "
                    "not measured on a CPU without native bf16 (where float32 is the choice), and inductor needs "
                    "a C++ compiler at run time",
    "channels_last": "channels-last slowed the bf16 step (491 against 515 images/s, "
                     "benchmarks/results/cpu-step-2026-12-02.json; 596 against 665, roofline-cpu-2026-12-05.json); "
                     "float32's readings were mixed (345 against 314 and 427 against 206 images/s faster, 28 "
                     "against 43 slower under heavy load, roofline-cpu-2026-12-04.json) and were not taken on a "
                     "CPU without native bf16",
}

KEPT = "kept from the run's start (its checkpoint): "


@dataclass(frozen=True)
class FastPath:
    """How a training run runs on its device, and why: the one record of :func:`choose_fast_path`
    (log.jsonl's ``start``/``resume`` event, checkpoint.pt, the demo's report.json)."""

    device: str                       # the device type: "cpu", "cuda", "mps"
    amp: str                          # "bf16" (autocast) or "off" (float32)
    compile: bool                     # torch.compile the training step
    channels_last: bool
    reason: Mapping[str, str]         # {"amp": ..., "compile": ..., "channels_last": ...} in words
    cpu_flags: tuple[str, ...] = ()   # the host CPU's flags that decide torch's kernels (/proc/cpuinfo)

    @property
    def precision(self) -> Precision:
        return Precision(torch.bfloat16 if self.amp == "bf16" else None, self.channels_last)

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "amp": self.amp, "compile": self.compile,
                "channels_last": self.channels_last, "precision": self.precision.name,
                "reason": dict(self.reason), "cpu_flags": list(self.cpu_flags)}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> "FastPath":
        """The record of :meth:`to_dict` (log.jsonl, checkpoint.pt, report.json) as a FastPath."""
        return cls(record["device"], record["amp"], bool(record["compile"]), bool(record["channels_last"]),
                   dict(record.get("reason") or {}), tuple(record.get("cpu_flags") or ()))

    def describe(self) -> str:
        """One line: ``bf16 autocast, eager, contiguous``."""
        return (f"{self.precision.name}, {'compiled' if self.compile else 'eager'}, "
                f"{'channels-last' if self.channels_last else 'contiguous'}")


def _asked(key: str, value) -> str:
    return f"asked for ({key}={json.dumps(value)})"


def choose_fast_path(device: str | torch.device, amp: str | bool | None = "auto",
                     compile: bool | str | None = "auto", channels_last: bool | str = "auto", *,
                     kept: Mapping[str, Any] | None = None) -> FastPath:
    """The one place a TRAINING run's ``amp="auto"``, ``compile="auto"`` and ``channels_last="auto"``
    are decided (evaluation, predict and the benchmarks keep :func:`resolve_precision`'s rule), with
    the reason for each in words.

    A setting that is not "auto" always wins ("asked for"). "auto":

    - ``amp``: bf16 autocast on CUDA; on a CPU bf16 autocast where the CPU multiplies bf16 in
      hardware (:func:`cpu_has_native_bf16`: AVX-512 BF16 or AMX), else float32 (oneDNN would
      emulate bf16); float32 elsewhere (MPS);
    - ``compile``: off. On a CPU as measured (:data:`CPU_EVIDENCE`): compiled bf16 was slower than
      eager, compiled float32 faster but only after a compilation of minutes; on a GPU it was not
      measured yet;
    - ``channels_last``: on CUDA only (cuDNN's fast layout; on the CPU measured it slowed bf16).

    ``kept``: the record (:meth:`FastPath.to_dict`) a resumed run started with, from its checkpoint;
    its choices stand for the settings still "auto" when the device type is the same, so a run
    resumed on the same kind of device keeps its numerics (:func:`fast_path_before_auto` for runs
    whose checkpoint holds none)."""
    kind = torch.device(device).type
    flags = tuple(cpu_flags())
    if kept is not None and kept.get("device") != kind:
        kept = None                   # another kind of device: chosen afresh
    if amp not in ("auto", None, True, False, "bf16", "off"):
        raise ValueError(f"amp={amp!r}: use auto, bf16 or off")
    if compile not in ("auto", None, True, False):
        raise ValueError(f"compile={compile!r}: use auto, true or false")
    reason: dict[str, str] = {}
    choices = {}
    for key, asked, choose in (("amp", amp, _auto_amp), ("compile", compile, _auto_compile),
                               ("channels_last", channels_last, _auto_channels_last)):
        if asked not in ("auto", None):
            choices[key] = ("bf16" if asked in (True, "bf16") else "off") if key == "amp" else bool(asked)
            reason[key] = _asked(key, asked)
        elif kept is not None:
            choices[key] = kept[key]
            reason[key] = KEPT + str((kept.get("reason") or {}).get(key, "")).removeprefix(KEPT)
        else:
            choices[key], reason[key] = choose(kind, flags, choices.get("amp"))
    return FastPath(kind, choices["amp"], choices["compile"], choices["channels_last"], reason, flags)


def _auto_amp(kind: str, flags: tuple[str, ...], _amp) -> tuple[str, str]:
    """``amp="auto"``: (the choice, why)."""
    if kind == "cuda":
        return "bf16", "bf16 autocast: the default on CUDA GPUs (bf16 tensor cores; not yet measured on a GPU here)"
    if kind != "cpu":
        return "off", "float32: bf16 autocast is automatic on CUDA and on CPUs with native bf16 only"
    if cpu_has_native_bf16():
        return "bf16", (f"bf16 autocast: this CPU multiplies bf16 in hardware (torch reports AVX-512 BF16 or AMX; "
                        f"cpu flags: {' '.join(flags) or 'unknown'}); on such a CPU {CPU_EVIDENCE['amp']}")
    return "off", (f"float32: torch reports neither AVX-512 BF16 nor AMX on this CPU (cpu flags: "
                   f"{' '.join(flags) or 'unknown'}), so oneDNN would emulate bf16; bf16 pays only where it is "
                   f"multiplied in hardware (docs/BENCHMARKS.md, \"bf16 on a CPU\")")


def _auto_compile(kind: str, _flags, amp: str) -> tuple[bool, str]:
    """``compile="auto"`` (after the amp choice): (the choice, why)."""
    if kind == "cpu":
        return False, ("eager: on the CPU measured (AVX-512 BF16) "
                       + CPU_EVIDENCE["compile_bf16" if amp == "bf16" else "compile_fp32"] + "; --compile turns it on")
    return False, f"eager: torch.compile has not been measured on {kind} here; --compile turns it on"


def _auto_channels_last(kind: str, _flags, _amp) -> tuple[bool, str]:
    """``channels_last="auto"``: (the choice, why)."""
    if kind == "cuda":
        return True, "channels-last: cuDNN's fast layout on CUDA"
    if kind == "cpu":
        return False, "contiguous: on the CPU measured " + CPU_EVIDENCE["channels_last"]
    return False, "contiguous: channels-last is automatic on CUDA only"


def fast_path_before_auto(device: str | torch.device) -> dict[str, Any]:
    """The record for a run resumed from a checkpoint written before :func:`choose_fast_path`
    existed: the rule it started with (bf16 autocast and channels-last on CUDA only, float32
    elsewhere, no compilation), so it resumes with the same numerics."""
    kind = torch.device(device).type
    why = ("the run started before the automatic fast path (its checkpoint records none), under the rule of "
           "that code: bf16 autocast and channels-last on CUDA only, float32 elsewhere, eager")
    return {"device": kind, "amp": "bf16" if kind == "cuda" else "off", "compile": False,
            "channels_last": kind == "cuda", "reason": {"amp": why, "compile": why, "channels_last": why}}


def cpu_flags() -> list[str]:
    """This host's CPU flags that decide torch's kernels (:data:`alexnet.provenance.CPU_FLAGS`)."""
    from .provenance import cpu_info
    return cpu_info()["cpu_flags"]
