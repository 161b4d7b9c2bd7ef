"""Weights files: a model's parameters plus everything needed to use it, in one safetensors file.

A ``model.safetensors`` written by :func:`save_weights` holds

- the state dict (tensor names as in ``model.state_dict()``);
- extra tensors under ``preprocess.*`` (the paper's per-pixel ``preprocess.mean_image``, (C, S, S));
- string metadata: ``format`` (``alexnet-weights/1``), ``arch``, and JSON-encoded ``model_kwargs``,
  ``class_names``, ``preprocessing`` (read by :class:`alexnet.data.views.Preprocessing`),
  ``config``, ``metrics`` and ``source`` (where converted weights came from: file and sha256).

Every command that takes weights accepts (:func:`resolve_weights_path`, :func:`read_weights`):

- a ``model.safetensors`` written here, or the run directory that holds it;
- a torchvision AlexNet checkpoint (``alexnet-owt-7be5be79.pth`` or any state dict of
  ``torchvision.models.alexnet``), read with ``torch.load(weights_only=True)``: arch
  ``alexnet_owt``, classes from fc8 (ImageNet's 1000 names, offline, when there are 1000),
  torchvision's preprocessing (:data:`TORCHVISION_PREPROCESSING`);
- ``torchvision:IMAGENET1K_V1``: torch.hub's cached copy of that file,
  ``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth`` (``TORCH_HOME`` defaults to
  ``~/.cache/torch``), downloaded there on first use as torchvision does (:mod:`alexnet.download`;
  ``--offline``/``ALEXNET_OFFLINE=1`` forbids it and the error says where the file was looked for).

Nothing here unpickles code: safetensors for our files, ``weights_only=True`` for torchvision's.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickletools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .atomic import atomic_path
from .download import ensure_asset
from .constants import IMAGENET_MEAN, IMAGENET_STD, imagenet_class_names

FORMAT = "alexnet-weights/1"
WEIGHTS_NAME = "model.safetensors"  # the file name in a run directory
CHECKPOINT_NAME = "checkpoint.pt"   # the resumable training state in a run directory
PREPROCESS_PREFIX = "preprocess."

TORCHVISION_TAG = "torchvision:IMAGENET1K_V1"
TORCHVISION_FILE = "alexnet-owt-7be5be79.pth"
#: How a file torch.load reads begins: a zip archive (torch ≥ 1.6) or a pickle stream (protocol ≥ 2).
TORCH_FILE_STARTS = (b"PK\x03\x04", b"\x80")
#: torchvision's evaluation preprocessing for its ImageNet weights (``AlexNet_Weights.IMAGENET1K_V1
#: .transforms()``): shorter side to 256 (Pillow bilinear), centre crop 224, [0, 1], mean/std.
TORCHVISION_PREPROCESSING = {"stored_size": 256, "resize": 256, "crop": 224, "channels": 3, "pixel_scale": 1.0,
                             "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "mean_image": False,
                             "source_resize": "shorter-side"}


@dataclass
class WeightsMeta:
    """What a weights file says about itself."""

    arch: str
    model_kwargs: dict[str, Any]
    class_names: list[str]
    preprocessing: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    extra_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_image(self) -> torch.Tensor | None:
        return self.extra_tensors.get("mean_image")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(path: str | os.PathLike, model: torch.nn.Module, *, arch: str | None = None,
                 model_kwargs: dict | None = None, class_names: list[str] | None = None,
                 preprocessing: dict | None = None, config: dict | None = None,
                 metrics: dict | None = None, extra_tensors: dict[str, torch.Tensor] | None = None,
                 source: dict | None = None) -> Path:
    """Write ``model``'s weights and metadata to ``path`` atomically. Returns the path.

    ``arch`` and ``model_kwargs`` default to what :func:`alexnet.models.create` recorded on the model.
    """
    arch = arch or getattr(model, "arch", None)
    if arch is None:
        raise ValueError("save_weights needs arch= (the model was not built by alexnet.models.create)")
    model_kwargs = dict(getattr(model, "model_kwargs", {}) if model_kwargs is None else model_kwargs)
    model_kwargs["num_classes"] = model.num_classes
    n = model.num_classes
    class_names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if len(class_names) != n:
        raise ValueError(f"{len(class_names)} class names for a model with {n} classes")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    for name, t in (extra_tensors or {}).items():
        tensors[PREPROCESS_PREFIX + name] = t.detach().to("cpu", torch.float32).contiguous()
    metadata = {
        "format": FORMAT,
        "arch": arch,
        "model_kwargs": json.dumps(model_kwargs),
        "class_names": json.dumps(class_names),
        "preprocessing": json.dumps(preprocessing or {}),
        "config": json.dumps(config or {}, default=str),
        "metrics": json.dumps(metrics or {}, default=str),
        "source": json.dumps(source or {}),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def load_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], WeightsMeta]:
    """Read a file written by :func:`save_weights` → (state dict, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for a damaged header
        raise ValueError(f"{path} is not a readable safetensors file ({e}); was it written by "
                         f"`alexnet train` / save_weights, and copied completely?") from e
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is a safetensors file but not an alexnet weights file "
                         f"(metadata format={metadata.get('format')!r}, expected {FORMAT!r})")
    state = {k: v for k, v in tensors.items() if not k.startswith(PREPROCESS_PREFIX)}
    extra = {k[len(PREPROCESS_PREFIX):]: v for k, v in tensors.items() if k.startswith(PREPROCESS_PREFIX)}
    meta = WeightsMeta(
        arch=metadata["arch"],
        model_kwargs=json.loads(metadata["model_kwargs"]),
        class_names=json.loads(metadata["class_names"]),
        preprocessing=json.loads(metadata["preprocessing"]),
        config=json.loads(metadata.get("config", "{}")),
        metrics=json.loads(metadata.get("metrics", "{}")),
        extra_tensors=extra,
        source=json.loads(metadata.get("source", "{}")),
    )
    return state, meta


# ---------------------------------------------------------------------------- where weights are

def torchvision_cache_path() -> Path:
    """Where torch.hub keeps torchvision's AlexNet: ``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth``."""
    home = Path(os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "torch").expanduser()   # as torch.hub.get_dir() expands "~"
    return home / "hub" / "checkpoints" / TORCHVISION_FILE


def resolve_weights_path(spec: str | os.PathLike) -> Path:
    """The weights file a user means: the path itself, ``RUN_DIR/model.safetensors`` for a run
    directory, or torch.hub's copy for ``torchvision:IMAGENET1K_V1``. Clear errors otherwise."""
    text = str(spec)
    if text.startswith("torchvision:"):
        if text != TORCHVISION_TAG:
            raise ValueError(f"unknown torchvision weights {text!r}; the one known tag is {TORCHVISION_TAG} "
                             f"(torchvision's AlexNet_Weights.IMAGENET1K_V1)")
        return ensure_asset(TORCHVISION_TAG)   # torch.hub's copy; downloaded (hash-checked) when missing
    p = Path(spec)
    if p.is_dir():
        if (p / WEIGHTS_NAME).is_file():
            return p / WEIGHTS_NAME
        has_ckpt = (p / CHECKPOINT_NAME).is_file()
        raise FileNotFoundError(f"{p} is a directory without {WEIGHTS_NAME}"
                                + ("; its run has not finished (the weights are written at the end; resume it with "
                                   f"`alexnet train --resume {p}`)" if has_ckpt else
                                   "; pass a run directory of `alexnet train` or a weights file"))
    if not p.exists():
        raise FileNotFoundError(f"weights {text!r}: no such file or directory; pass a {WEIGHTS_NAME} written by "
                                f"`alexnet train`, its run directory, a torchvision AlexNet .pth, or {TORCHVISION_TAG}")
    if p.name == CHECKPOINT_NAME:
        weights = p.parent / WEIGHTS_NAME
        raise ValueError(f"{p} is a resumable training checkpoint, not a weights file: pass "
                         + (f"{weights} (or the run directory {p.parent})" if weights.is_file() else
                            f"the run directory {p.parent} once its run has finished (`alexnet train --resume "
                            f"{p.parent}` continues it)"))
    return p


def load_torchvision_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A torchvision checkpoint's state dict, read without unpickling code; errors say what the
    file is and what was expected."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(8)
    if head and not any(head.startswith(m) or m.startswith(head) for m in TORCH_FILE_STARTS):
        raise ValueError(f"{path} is not a PyTorch file (it starts with {head!r}; torch.save writes a zip archive, "
                         f"older PyTorch a pickle stream); expected a state dict of tensors such as torchvision's "
                         f"{TORCHVISION_FILE}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types: say which of the usual causes it is
        text = str(e)
        # EOFError (no message), or a pickle that ends early: a file cut short in its pickles (the
        # format of torchvision's 2017 file), or an empty one; the others: a zip-format file cut short.
        if (len(head) < 4 or isinstance(e, EOFError) or "central directory" in text or "zip archive" in text
                or "unexpected EOF" in text or "truncated" in text
                or (head.startswith(b"\x80") and _cut_inside_pickles(path))):
            raise ValueError(f"{path} is truncated or damaged ({path.stat().st_size} bytes): not a whole PyTorch "
                             f"file. Copy or download it again (torchvision's {TORCHVISION_FILE} is 244 MB)") from None
        if "Weights only load failed" in text or "Unsupported global" in text:
            # Name the refused class only: torch's own message goes on to explain how to allow it.
            culprit = re.search(r"GLOBAL ([\w.]+)", text)
            raise ValueError(f"{path} holds pickled Python objects{f' ({culprit[1]})' if culprit else ''}, not only "
                             f"tensors: it is refused rather than unpickled (a .pth can run code when loaded). "
                             f"Expected a state dict of tensors such as torchvision's {TORCHVISION_FILE}") from None
        raise ValueError(f"{path} is not a PyTorch checkpoint that weights_only=True can read ({type(e).__name__}: "
                         f"{text.splitlines()[0] if text else 'no message'}); expected a state dict of tensors such "
                         f"as torchvision's {TORCHVISION_FILE}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors (found {type(state).__name__}); expected a "
                         f"state dict of torchvision.models.alexnet")
    return state


def _cut_inside_pickles(path: Path) -> bool:
    """Whether a pre-zip .pth (a run of pickles: magic number, protocol, system info, the state dict,
    the storage keys; then the raw storages) ends inside one of those pickles. pickletools only
    parses the opcodes: nothing is unpickled."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        for _ in range(5):
            if f.tell() == size:
                return False
            try:
                for _ in pickletools.genops(f):
                    pass
            except ValueError:   # "pickle exhausted before seeing STOP", "expected n bytes ...", ...
                return True
    return False


def torchvision_meta(state: dict[str, torch.Tensor], path: str | os.PathLike, *,
                     with_sha256: bool = False) -> WeightsMeta:
    """The metadata torchvision's own files do not carry: arch, classes (from fc8), preprocessing."""
    fc8, conv1 = state.get("classifier.6.weight"), state.get("features.0.weight")
    if fc8 is None or conv1 is None or fc8.ndim != 2 or conv1.ndim != 4:
        keys = list(state)[:4]
        raise ValueError(f"{path} is a state dict of another network, not torchvision's AlexNet: it has no "
                         f"features.0.weight / classifier.6.weight (its first keys: {', '.join(keys)})")
    num_classes, in_channels = int(fc8.shape[0]), int(conv1.shape[1])
    names = imagenet_class_names() if num_classes == 1000 else None
    source = {"kind": "torchvision", "file": str(path)}
    if with_sha256:
        source["sha256"] = file_sha256(path)
    return WeightsMeta(arch="alexnet_owt", model_kwargs={"num_classes": num_classes, "in_channels": in_channels},
                       class_names=names or [str(i) for i in range(num_classes)],
                       preprocessing={**TORCHVISION_PREPROCESSING, "channels": in_channels,
                                      **({} if in_channels == 3 else {"mean": None, "std": None})},
                       source=source)


def read_weights(spec: str | os.PathLike) -> tuple[Path, dict[str, torch.Tensor], WeightsMeta]:
    """(file, state dict, metadata) of any weights a command accepts (module docstring)."""
    path = resolve_weights_path(spec)
    with open(path, "rb") as f:
        head = f.read(16)
    if path.suffix == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{"):   # safetensors: u64 + JSON
        state, meta = load_weights(path)
    else:
        state = load_torchvision_state_dict(path)
        meta = torchvision_meta(state, path)
    return path, state, meta
