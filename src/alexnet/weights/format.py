"""Our weights file: a model's parameters plus everything needed to use it, in one safetensors file.

A ``model.safetensors`` written by :func:`save_weights` holds

- the state dict (tensor names as in ``model.state_dict()``);
- extra tensors under ``preprocess.*`` (the paper's per-pixel ``preprocess.mean_image``, (C, S, S));
- string metadata: ``format`` (``alexnet-weights/1``), ``arch``, and JSON-encoded ``model_kwargs``,
  ``class_names``, ``preprocessing`` (read by :class:`alexnet.data.views.Preprocessing`),
  ``config``, ``metrics`` and ``source`` (where converted weights came from: file and digest).

Nothing here unpickles code.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..atomic import atomic_path

FORMAT = "alexnet-weights/1"
WEIGHTS_NAME = "model.safetensors"  # the file name in a run directory
CHECKPOINT_NAME = "checkpoint.pt"   # the resumable training state in a run directory
PREPROCESS_PREFIX = "preprocess."


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
    return file_digest(path, "sha256")


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    """The hex digest of a file (``algorithm``: one of hashlib's names; Caffe publishes sha1)."""
    digest = hashlib.new(algorithm)
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


def is_safetensors(path: Path, head: bytes) -> bool:
    """A safetensors file by name or by its first bytes (a little-endian u64 header size, then JSON)."""
    return path.suffix == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{")


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
