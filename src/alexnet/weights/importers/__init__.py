"""Importers: other projects' weights files → (state dict, :class:`~alexnet.weights.format.WeightsMeta`).

One module per source, each registering one function::

    @register_importer("caffe", suffixes=(".caffemodel",), sniff=looks_like_caffe)
    def read_caffe(path: Path, **options) -> tuple[dict[str, Tensor], WeightsMeta]: ...

:func:`alexnet.weights.read_weights` (every command that takes weights) and ``alexnet convert
SOURCE`` find importers here; a new source is a new module imported at the end of this file,
nothing else. The meta an importer returns says everything the project needs to use the weights:
arch and the model arguments that reproduce the source's forward pass, class names, the
preprocessing (read by :class:`alexnet.data.views.Preprocessing`), extra tensors (a mean image)
and ``source`` (kind, file, digest).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..format import WeightsMeta

ReadFn = Callable[..., "tuple[dict[str, torch.Tensor], WeightsMeta]"]


@dataclass(frozen=True)
class Importer:
    source: str                       # "torchvision", "caffe", "onnx": the name `alexnet convert` takes
    read: ReadFn                      # read(path, **options) -> (state dict, meta)
    suffixes: tuple[str, ...] = ()    # file name endings it claims (".caffemodel")
    sniff: Callable[[bytes], bool] | None = None   # whether a file's first 16 bytes look like its format
    fallback: bool = False            # reads files nobody else claims (its errors say what a file is)


IMPORTERS: dict[str, Importer] = {}


def register_importer(source: str, *, suffixes: tuple[str, ...] = (), sniff: Callable[[bytes], bool] | None = None,
                      fallback: bool = False) -> Callable[[ReadFn], ReadFn]:
    """Register ``read(path, **options)`` as the importer of ``source``."""
    def decorate(read: ReadFn) -> ReadFn:
        IMPORTERS[source] = Importer(source, read, tuple(suffixes), sniff, fallback)
        return read
    return decorate


def get_importer(source: str) -> Importer:
    if source not in IMPORTERS:
        raise ValueError(f"no importer for {source!r}; known sources: {', '.join(sorted(IMPORTERS))}")
    return IMPORTERS[source]


def importer_for(path: Path, head: bytes) -> Importer:
    """The importer of a file that is not our safetensors: by its name's ending, then by its first
    bytes, then the fallback one."""
    name = path.name.lower()
    for imp in IMPORTERS.values():
        if any(name.endswith(s) for s in imp.suffixes):
            return imp
    for imp in IMPORTERS.values():
        if imp.sniff is not None and imp.sniff(head):
            return imp
    return next(imp for imp in IMPORTERS.values() if imp.fallback)


# Each module registers its importer when imported.
from . import torchvision  # noqa: E402,F401
from . import caffe  # noqa: E402,F401
from . import onnx  # noqa: E402,F401
