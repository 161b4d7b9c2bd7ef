"""torchvision's AlexNet (the one-tower "one weird trick" net): any state dict of
``torchvision.models.alexnet`` (``alexnet-owt-7be5be79.pth``, as torch.hub caches it), read with
``torch.load(weights_only=True)`` (:func:`alexnet.weights.forensics.load_torch_state_dict`).

It becomes arch ``alexnet_owt``, with classes from fc8 (ImageNet's 1000 names, offline, when there
are 1000) and torchvision's preprocessing for these weights (:data:`TORCHVISION_PREPROCESSING`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ...constants import IMAGENET_MEAN, IMAGENET_STD, imagenet_class_names
from ..forensics import TORCH_FILE_STARTS, load_torch_state_dict
from ..format import WeightsMeta, file_sha256
from . import register_importer

#: torchvision's evaluation preprocessing for its ImageNet weights (``AlexNet_Weights.IMAGENET1K_V1
#: .transforms()``): shorter side to 256 (Pillow bilinear), centre crop 224, [0, 1], mean/std.
TORCHVISION_PREPROCESSING = {"stored_size": 256, "resize": 256, "crop": 224, "channels": 3, "pixel_scale": 1.0,
                             "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "mean_image": False,
                             "source_resize": "shorter-side"}


def load_torchvision_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A torchvision checkpoint's state dict, read without unpickling code (errors: :mod:`..forensics`)."""
    return load_torch_state_dict(path)


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


@register_importer("torchvision", suffixes=(".pth", ".pt"), sniff=lambda head: head.startswith(TORCH_FILE_STARTS),
                   fallback=True)
def read_torchvision(path: Path) -> tuple[dict[str, torch.Tensor], WeightsMeta]:
    """torchvision's AlexNet checkpoint → (state dict, meta of arch alexnet_owt)."""
    state = load_torchvision_state_dict(path)
    return state, torchvision_meta(state, path)
