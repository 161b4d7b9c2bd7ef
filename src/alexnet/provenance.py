"""Where a result came from: the one helper every result file (experiments, the demo's report,
benchmarks, gpu_check, explain and serve benchmarks) records its provenance with.

    record = {"provenance": provenance(device), **results}

The record holds the command line, the UTC date and time, the git commit of the source tree and
whether it was dirty, the host (its name and this boot's id), the host's CPU model, its
instruction-set flags that matter to PyTorch's
kernels, its core count, the device, and the versions of Python, torch, torchvision and numpy.
A value that cannot be found is ``None``, never a guess.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: The CPU flags (as /proc/cpuinfo names them) that decide which kernels torch and oneDNN run.
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx512_fp16", "amx_tile", "amx_bf16",
             "amx_int8")


def command_line(argv: list[str] | None = None) -> str:
    """The command that started this process, as one shell line (``alexnet demo --out runs/demo``)."""
    argv = list(sys.argv if argv is None else argv)
    if argv and (argv[0] == "alexnet" or argv[0].endswith(("alexnet/__main__.py", "/alexnet"))):
        argv[0] = "alexnet"
    elif argv:
        argv = [Path(sys.executable).name, *argv]
    return " ".join(shlex.quote(a) for a in argv)


def git_state(where: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the git tree holding this package (or
    ``where``). Dirty means tracked files differ from the commit (untracked files do not count)."""
    where = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(),
            "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def cpu_info() -> dict[str, Any]:
    """The host CPU's model name, its :data:`CPU_FLAGS` and its core count (``os.cpu_count()``
    and the cores this process may run on)."""
    model, flags = None, set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
                if model is not None and flags:
                    break
    except OSError:
        pass
    if model is None:
        model = platform.processor() or None
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {"cpu_model": model, "cpu_flags": [f for f in CPU_FLAGS if f in flags],
            "cpu_count": os.cpu_count(), "cpu_usable": usable}


def versions() -> dict[str, str | None]:
    import numpy
    import torch
    import torchvision
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__,
            "cuda": torch.version.cuda, "cudnn": None if cudnn is None else str(cudnn)}


def device_description(device: Any = None) -> str:
    """``"cpu"``, or the GPU's name (``"NVIDIA H200"``) for a CUDA device."""
    import torch
    if device is None:
        return "cpu"
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    return device.type


def boot_id() -> str | None:
    """This boot of this machine (Linux's ``/proc/sys/kernel/random/boot_id``): host names repeat
    across machines (these sessions' hosts are all called ``vm``), a boot id does not, so reports
    pair runs on one host by host name and boot id together."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def provenance(device: Any = None, *, argv: list[str] | None = None) -> dict[str, Any]:
    """Everything a reader needs to know where a result came from (see the module's docstring)."""
    import torch
    return {"command": command_line(argv),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            **git_state(), "host": platform.node(), "boot_id": boot_id(), **cpu_info(),
            "device": device_description(device),
            "torch_threads": torch.get_num_threads(), "platform": platform.platform(), "versions": versions()}


def describe(record: dict[str, Any]) -> str:
    """One line for a table: ``commit 129e460 (dirty) · AMD EPYC, 2 cores · torch 2.14.1``."""
    commit = record.get("commit")
    text = f"commit {commit[:7]}" if commit else "commit unknown"
    if record.get("dirty"):
        text += " (dirty)"
    cpu = record.get("cpu_model") or "unknown CPU"
    torch_version = (record.get("versions") or {}).get("torch")
    return f"{text} · {cpu}, {record.get('cpu_count')} cores · {record.get('device')} · torch {torch_version}"
