"""Builders in torchvision's shape and a registry to create models by name.

    from alexnet import models
    net = models.alexnet2012(num_classes=10, in_channels=1)
    net = models.create("alexnet_owt")
    net = models.alexnet2012(weights="runs/demo/model.safetensors")   # weights carry their config
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from torch import nn

from .alexnet2012 import AlexNet2012
from .owt import AlexNetOWT

_MODELS: dict[str, type[nn.Module]] = {"alexnet2012": AlexNet2012, "alexnet_owt": AlexNetOWT}


def list_models() -> list[str]:
    return sorted(_MODELS)


def _build(arch: str, weights: str | os.PathLike | None, kwargs: dict) -> nn.Module:
    if arch not in _MODELS:
        raise ValueError(f"unknown model {arch!r}; known: {', '.join(list_models())}")
    meta = None
    state = None
    if weights is not None:
        path = Path(weights)
        if not path.exists():
            raise FileNotFoundError(
                f"weights {str(weights)!r}: no such file. Pass the path of a model.safetensors written by "
                f"`alexnet train`/`alexnet demo` (no released weights are bundled with this package), or "
                f"for alexnet_owt a local copy of torchvision's alexnet-owt-7be5be79.pth")
        from ..weights import load_torchvision_state_dict, load_weights
        if path.suffix == ".safetensors":
            state, meta = load_weights(path)
            if meta.arch != arch:
                raise ValueError(f"{path} holds {meta.arch!r} weights, not {arch!r}")
            kwargs = {**meta.model_kwargs, **kwargs}
        elif arch == "alexnet_owt":
            state = load_torchvision_state_dict(path)
        else:
            raise ValueError(f"{path}: alexnet2012 weights must be a .safetensors file written by this project")
    model = _MODELS[arch](**kwargs)
    model.arch = arch
    model.model_kwargs = {k: v for k, v in kwargs.items() if k != "num_classes"}
    if state is not None:
        model.load_state_dict(state, strict=True)
    model.weights_meta = meta
    return model


def alexnet2012(*, weights: str | os.PathLike | None = None, progress: bool = True, **kwargs) -> AlexNet2012:
    """The paper's two-tower AlexNet (see :class:`AlexNet2012` for the keyword arguments).

    ``weights``: path of a ``model.safetensors`` written by this project; its stored model
    arguments are used unless overridden here. ``progress`` is accepted for torchvision
    compatibility (nothing is downloaded).
    """
    return _build("alexnet2012", weights, kwargs)


def alexnet_owt(*, weights: str | os.PathLike | None = None, progress: bool = True, **kwargs) -> AlexNetOWT:
    """torchvision's one-tower AlexNet. ``weights``: our ``.safetensors`` or torchvision's ``.pth``."""
    return _build("alexnet_owt", weights, kwargs)


_BUILDERS: dict[str, Callable[..., nn.Module]] = {"alexnet2012": alexnet2012, "alexnet_owt": alexnet_owt}


def create(name: str, **kwargs) -> nn.Module:
    """Create a registered model by name: ``create("alexnet2012", num_classes=10, in_channels=1)``."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return _BUILDERS[name](**kwargs)


def load(weights: str | os.PathLike, **kwargs) -> nn.Module:
    """Build whichever architecture a ``model.safetensors`` file holds and load it."""
    from ..weights import load_weights
    _, meta = load_weights(weights)
    return create(meta.arch, weights=weights, **kwargs)
