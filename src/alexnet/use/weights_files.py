"""Weights in from other projects' files (torchvision, Caffe, ONNX) and out to torchvision's format.

    convert_from_torchvision("~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth", "owt.safetensors")
    convert_from_torchvision("torchvision:IMAGENET1K_V1", "owt.safetensors")     # the cached copy
    convert_to_torchvision("runs/tv/model.safetensors", "mine.pth")              # alexnet_owt trained here

``from torchvision``: any state dict of ``torchvision.models.alexnet`` (read with
``torch.load(weights_only=True)``), written as a ``model.safetensors`` of arch ``alexnet_owt``
with the classes (from fc8; ImageNet's 1000 names, offline, when there are 1000), torchvision's
preprocessing for these weights (shorter side to 256, Pillow bilinear, centre crop 224, [0, 1],
ImageNet mean/std) and the source file's path and sha256. ``to torchvision``: the state dict
alone, as torchvision saves it, checked by loading it into ``torchvision.models.alexnet``.
"""

from __future__ import annotations

import os

import torch

from ..atomic import atomic_path
from ..constants import imagenet_class_names
from ..models import create, load
from ..models.registry import load_state
from ..weights import file_sha256, get_importer, is_safetensors, resolve_weights_path, save_weights


def convert_weights(source: str, src: str | os.PathLike, out: str | os.PathLike, **options) -> dict:
    """Another project's weights file → our weights file, through the importer of ``source``
    (:mod:`alexnet.weights.importers`); ``options`` go to that importer. Returns a report (arch,
    classes, source, out)."""
    importer = get_importer(source)
    path = resolve_weights_path(src)
    with open(path, "rb") as f:
        head = f.read(16)
    if is_safetensors(path, head):
        raise ValueError(f"{path} is already an alexnet weights file; `convert {source}` reads "
                         f"{_WHAT_IT_READS.get(source, source + ' files')}")
    state, meta = importer.read(path, **options)
    model = create(meta.arch, **meta.model_kwargs)
    load_state(model, state, str(path))
    source_info = {**meta.source, "file": str(path)}
    if "sha256" not in source_info:
        source_info["sha256"] = file_sha256(path)
    save_weights(out, model, class_names=meta.class_names, preprocessing=meta.preprocessing, source=source_info,
                 extra_tensors=meta.extra_tensors)
    return {"out": str(out), "arch": meta.arch, "num_classes": model.num_classes, "source": source_info,
            "model_kwargs": model.model_kwargs, "preprocessing": meta.preprocessing,
            "imagenet_class_names": meta.class_names == imagenet_class_names()}


_WHAT_IT_READS = {"torchvision": "torchvision's .pth checkpoints", "caffe": "Caffe's .caffemodel files",
                  "onnx": ".onnx models"}


def convert_from_torchvision(src: str | os.PathLike, out: str | os.PathLike) -> dict:
    """torchvision checkpoint → our weights file; returns a report (arch, classes, sha256, out)."""
    return convert_weights("torchvision", src, out)


def convert_to_torchvision(weights: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Our alexnet_owt weights → a torchvision state dict (``torch.save``), checked against torchvision."""
    import torchvision

    model = load(weights)
    if model.arch != "alexnet_owt":
        raise ValueError(f"{resolve_weights_path(weights)} holds {model.arch} weights; only alexnet_owt "
                         f"(torchvision's architecture) converts to torchvision's format")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    reference = torchvision.models.alexnet(weights=None, num_classes=model.num_classes)
    if model.in_channels != 3:
        raise ValueError(f"torchvision's AlexNet takes 3 input channels; these weights take {model.in_channels}")
    reference.load_state_dict(state, strict=True)   # raises if torchvision would not accept it
    with atomic_path(out) as tmp:
        torch.save(state, tmp)
    return {"out": str(out), "num_classes": model.num_classes, "tensors": len(state)}
