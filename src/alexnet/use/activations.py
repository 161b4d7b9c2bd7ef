"""Named activations of a trained net: the paper's fc7 retrieval vector and its neighbours.

    x = layer_output(model, images, "fc7")     # (N, 4096), model in eval mode
    maps = conv_maps(model, images, "conv1")   # (N, 96, 55, 55) after conv1's ReLU

Works for every registered architecture: each names the module whose output is a layer in its
``LAYER_OUTPUTS`` (conv maps and fc vectors after their ReLU, pool5 as fc6 sees it).

A forward hook, not ``torchvision.models.feature_extraction.create_feature_extractor``: that one
traces the net with torch.fx, which fails on all three nets here (alexnet2012's ceil-rule padding
and d2l's flatten branch on the input's shape; alexnet_owt's head slices its Sequential), tried
with torchvision 0.29.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

#: Vectors :func:`layer_output` returns. fc7 and fc6 are taken after their ReLU (the paper's
#: "last 4096-dimensional hidden layer" for fc7); pool5 is the flattened maps fc6 sees.
FEATURE_LAYERS = ("fc7", "fc6", "pool5")
#: Convolutional layers :func:`conv_maps` returns, each after its ReLU.
CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")


def layer_module(model: nn.Module, layer: str) -> nn.Module:
    """The module whose output is ``layer`` (see the architecture's ``LAYER_OUTPUTS``)."""
    names = getattr(model, "LAYER_OUTPUTS", None)
    if names is None:
        raise TypeError(f"{type(model).__name__} names no layers (LAYER_OUTPUTS); use an alexnet.models net")
    if layer not in names:
        raise ValueError(f"unknown layer {layer!r}; choose one of {', '.join(names)}")
    return model.get_submodule(names[layer])


def _capture(model: nn.Module, layer: str, run: Callable[[], object]) -> torch.Tensor:
    captured: list[torch.Tensor] = []
    # A forward hook sees the module's output before the next (in-place) module can change it.
    handle = layer_module(model, layer).register_forward_hook(
        lambda _m, _inp, out: captured.append(out.detach().clone()))
    try:
        run()
    finally:
        handle.remove()
    return captured[0]


def layer_output(model: nn.Module, x: torch.Tensor, layer: str = "fc7") -> torch.Tensor:
    """The ``layer`` vector (one of :data:`FEATURE_LAYERS`) of a preprocessed batch (N, C, H, W).

    fc7 is exactly ``model.forward_head(model.forward_features(x), pre_logits=True)``. Call in
    eval mode (dropout off) and under ``torch.inference_mode()`` as the caller sees fit.
    """
    if layer not in FEATURE_LAYERS:
        raise ValueError(f"unknown feature layer {layer!r}; choose one of {', '.join(FEATURE_LAYERS)}")

    def head():
        return model.forward_head(model.forward_features(x), pre_logits=True)

    if layer == "fc7":
        return head()
    return torch.flatten(_capture(model, layer, head), 1)


def conv_maps(model: nn.Module, x: torch.Tensor, layer: str = "conv1") -> torch.Tensor:
    """Feature maps of ``layer`` (after its ReLU, before LRN and pooling) for a preprocessed batch."""
    if layer not in CONV_LAYERS:
        raise ValueError(f"unknown conv layer {layer!r}; choose one of {', '.join(CONV_LAYERS)}")
    return _capture(model, layer, lambda: model.forward_features(x))
