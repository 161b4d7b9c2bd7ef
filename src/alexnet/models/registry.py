"""Builders in torchvision's shape and a registry to create models by name.

    from alexnet import models
    net = models.alexnet2012(num_classes=10, in_channels=1)
    net = models.create("alexnet_owt")
    net = models.load("runs/demo/model.safetensors")        # whichever arch the file holds
    net = models.load("torchvision:IMAGENET1K_V1")           # torch.hub's cached torchvision weights

A net built from weights carries ``weights_meta`` (:class:`alexnet.weights.WeightsMeta`: class
names, preprocessing, ...), ``arch`` and ``model_kwargs``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .alexnet2012 import AlexNet2012
from .d2l import AlexNetD2L
from .owt import AlexNetOWT

@dataclass(frozen=True)
class ModelEntry:
    """A registered architecture: its name, class, builder, the recipe it trains with by default
    (:mod:`alexnet.recipes`) and the layers :mod:`alexnet.use.activations` and ``alexnet explain`` can read."""

    name: str
    cls: type[nn.Module]
    builder: Callable[..., nn.Module]
    default_recipe: str

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(getattr(self.cls, "LAYER_OUTPUTS", {}))


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, cls: type[nn.Module], *, default_recipe: str):
    """Decorator: register a builder ``fn(*, weights=None, **kwargs)`` of ``cls`` under ``name``.
    The config's arch check, the CLI's ``--arch`` choices and :func:`create` all read this registry."""
    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, cls, builder, default_recipe)
        return builder
    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def entry(arch: str) -> ModelEntry:
    if arch not in _REGISTRY:
        raise ValueError(f"unknown model {arch!r}; known: {', '.join(list_models())}")
    return _REGISTRY[arch]


def model_class(arch: str) -> type[nn.Module]:
    return entry(arch).cls


def default_recipe(arch: str) -> str:
    """The recipe ``arch`` trains with unless told otherwise (paper, torchvision, d2l)."""
    return entry(arch).default_recipe


def load_state(model: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """``model.load_state_dict(state, strict=True)`` with an error that says what the file holds."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        if len(missing) == len(own):
            raise ValueError(f"{where} holds a state dict of another network: none of {type(model).__name__}'s "
                             f"keys ({', '.join(list(own)[:3])}, …) are in it; it has {', '.join(list(state)[:3])}, …")
        raise ValueError(f"{where} is a state dict of another network or of another version of "
                         f"{type(model).__name__}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]} "
                         f"({len(missing)} missing and {len(unexpected)} unexpected of {len(own)} expected)")
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})" for k, v in own.items()
             if state[k].shape != v.shape]
    if wrong:
        raise ValueError(f"{where} does not fit {type(model).__name__}: {'; '.join(wrong[:3])}")
    model.load_state_dict(state, strict=True)


def _read(weights):
    from ..weights import read_weights
    return None if weights is None else read_weights(weights)


def _build(arch: str, read, kwargs: dict) -> nn.Module:
    """A net of ``arch``; with ``read`` = (path, state, meta) from :func:`alexnet.weights.read_weights`,
    built with the file's model arguments (``kwargs`` override them) and loaded strictly."""
    cls = model_class(arch)
    meta = state = None
    if read is not None:
        path, state, meta = read
        if meta.arch != arch:
            raise ValueError(f"{path} holds {meta.arch!r} weights, not {arch!r}; use alexnet.models.load({str(path)!r})")
        kwargs = {**meta.model_kwargs, **kwargs}
    model = cls(**kwargs)
    model.arch = arch
    model.model_kwargs = {k: v for k, v in kwargs.items() if k != "num_classes"}
    if state is not None:
        load_state(model, state, str(path))
    model.weights_meta = meta
    return model


@register_model("alexnet2012", AlexNet2012, default_recipe="paper")
def alexnet2012(*, weights: str | os.PathLike | None = None, **kwargs) -> AlexNet2012:
    """The paper's two-tower AlexNet (see :class:`AlexNet2012` for the keyword arguments).

    ``weights``: a ``model.safetensors`` written by this project (or its run directory), or any
    file or tag :mod:`alexnet.weights` reads for this architecture; its stored model arguments are
    used unless overridden here.
    """
    return _build("alexnet2012", _read(weights), kwargs)


@register_model("alexnet_owt", AlexNetOWT, default_recipe="torchvision")
def alexnet_owt(*, weights: str | os.PathLike | None = None, **kwargs) -> AlexNetOWT:
    """torchvision's one-tower AlexNet. ``weights``: our ``.safetensors``, torchvision's ``.pth``, or
    ``"torchvision:IMAGENET1K_V1"`` (torch.hub's cached copy)."""
    return _build("alexnet_owt", _read(weights), kwargs)


@register_model("alexnet_d2l", AlexNetD2L, default_recipe="d2l")
def alexnet_d2l(*, weights: str | os.PathLike | None = None, **kwargs) -> AlexNetD2L:
    """Seed 003's simplified AlexNet (d2l), see :class:`AlexNetD2L`."""
    return _build("alexnet_d2l", _read(weights), kwargs)


def create(name: str, **kwargs) -> nn.Module:
    """Create a registered model by name: ``create("alexnet2012", num_classes=10, in_channels=1)``."""
    return entry(name).builder(**kwargs)


def load(weights: str | os.PathLike, **kwargs) -> nn.Module:
    """Build whichever architecture a weights file holds and load it (any weights a command
    accepts: see :mod:`alexnet.weights`)."""
    read = _read(weights)
    return _build(read[2].arch, read, kwargs)
