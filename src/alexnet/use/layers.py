"""Named activations of a trained net: the paper's fc7 retrieval vector and its neighbours.

    x = layer_output(model, images, "fc7")     # (N, 4096), model in eval mode
    maps = conv_maps(model, images, "conv1")   # (N, 96, 55, 55) after conv1's ReLU

Works for both architectures (``alexnet2012`` and torchvision's one-tower ``alexnet_owt``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import AlexNet2012, AlexNetOWT

#: Vectors :func:`layer_output` returns. fc7 and fc6 are taken after their ReLU (the paper's
#: "last 4096-dimensional hidden layer" for fc7); pool5 is the flattened 256×6×6 maps.
FEATURE_LAYERS = ("fc7", "fc6", "pool5")
#: Convolutional layers :func:`conv_maps` returns, each after its ReLU.
CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")

# Index of each conv layer's ReLU in AlexNetOWT.features (torchvision's layout).
_OWT_RELU = {"conv1": 1, "conv2": 4, "conv3": 7, "conv4": 9, "conv5": 11}


def _pool5(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    maps = model.forward_features(x)
    if isinstance(model, AlexNetOWT):
        maps = model.avgpool(maps)  # what fc6 sees (identity for 224 crops)
    return torch.flatten(maps, 1)


def layer_output(model: nn.Module, x: torch.Tensor, layer: str = "fc7") -> torch.Tensor:
    """The ``layer`` vector (one of :data:`FEATURE_LAYERS`) of a preprocessed batch (N, C, H, W).

    fc7 is exactly ``model.forward_head(model.forward_features(x), pre_logits=True)``. Call in
    eval mode (dropout off) and under ``torch.inference_mode()`` as the caller sees fit.
    """
    if layer == "fc7":
        return model.forward_head(model.forward_features(x), pre_logits=True)
    if layer == "pool5":
        return _pool5(model, x)
    if layer == "fc6":
        flat = _pool5(model, x)
        if isinstance(model, AlexNet2012):
            return model.pre_logits.relu6(model.pre_logits.fc6(flat))
        if isinstance(model, AlexNetOWT):
            return model.classifier[2](model.classifier[1](flat))
        raise TypeError(f"fc6 is defined for alexnet2012 and alexnet_owt, not {type(model).__name__}")
    raise ValueError(f"unknown feature layer {layer!r}; choose one of {', '.join(FEATURE_LAYERS)}")


def _relu_module(model: nn.Module, layer: str) -> nn.Module:
    if layer not in CONV_LAYERS:
        raise ValueError(f"unknown conv layer {layer!r}; choose one of {', '.join(CONV_LAYERS)}")
    if isinstance(model, AlexNet2012):
        return getattr(model.features, "relu" + layer[-1])
    if isinstance(model, AlexNetOWT):
        return model.features[_OWT_RELU[layer]]
    raise TypeError(f"conv maps are defined for alexnet2012 and alexnet_owt, not {type(model).__name__}")


def conv_maps(model: nn.Module, x: torch.Tensor, layer: str = "conv1") -> torch.Tensor:
    """Feature maps of ``layer`` (after its ReLU, before LRN and pooling) for a preprocessed batch."""
    captured: list[torch.Tensor] = []
    # A forward hook sees the ReLU's output before the next (in-place) module can change it.
    handle = _relu_module(model, layer).register_forward_hook(
        lambda _m, _inp, out: captured.append(out.detach().clone()))
    try:
        model.forward_features(x)
    finally:
        handle.remove()
    return captured[0]
