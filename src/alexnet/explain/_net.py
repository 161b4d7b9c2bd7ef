"""What every method of :mod:`alexnet.explain` needs from a net: its layers, their widths and
receptive fields, and a copy Captum can hook.

    layer_module(model, "conv2")                 # the module whose output is conv2's maps (after ReLU)
    layer_channels(model, "conv2")               # 256 maps
    field = receptive_field(model, "conv2", 224) # size, jump, start: alexnet.models.summary's numbers
    net = hookable_copy(model, skip_lrn_backward=True)   # shares the parameters, no in-place ReLU
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from typing import NamedTuple

import torch
from torch import nn

from ..models.lrn import LocalResponseNorm
from ..models.registry import list_models, model_class
from ..models.summary import summarize
from ..use.activations import CONV_LAYERS, layer_module

CAPTUM_HINT = "pip install 'alexnet[explain]'"


def require_captum():
    """The ``captum`` module, or an ImportError whose one line says how to install it."""
    try:
        import captum.attr
    except ImportError:
        raise ImportError(f"this needs Captum, which is not installed: {CAPTUM_HINT}") from None
    return captum.attr


@contextlib.contextmanager
def quiet_captum():
    """Silence Captum's notices that say nothing to our users (its hooks are set and removed per call)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        warnings.filterwarnings("ignore", message="Input Tensor .* did not already require gradients")
        yield


def check_conv_layer(model: nn.Module, layer: str) -> nn.Module:
    """The module of conv ``layer`` (conv1..conv5), or a ValueError naming the choices."""
    if layer not in CONV_LAYERS:
        raise ValueError(f"unknown layer {layer!r}; choose one of {', '.join(CONV_LAYERS)}")
    return layer_module(model, layer)


def layer_channels(model: nn.Module, layer: str) -> int:
    """Number of feature maps of conv ``layer``: the out_channels of the last convolution before it."""
    target = check_conv_layer(model, layer)
    last = None
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            last = module
        if module is target:
            break
    if last is None:
        raise ValueError(f"{type(model).__name__} has no convolution before {layer}")
    return last.out_channels


def check_maps(model: nn.Module, layer: str, maps) -> list[int]:
    """``maps`` as a list of ints, each a valid map index of ``layer`` (else a one-line ValueError)."""
    n = layer_channels(model, layer)
    out = [int(m) for m in maps]
    bad = [m for m in out if not 0 <= m < n]
    if bad:
        raise ValueError(f"map index {bad[0]} is out of range: {layer} has {n} maps (0..{n - 1})")
    if not out:
        raise ValueError(f"no maps given for {layer}")
    return out


class ReceptiveField(NamedTuple):
    """Unit (y, x) of a layer sees input rows ``start + y·jump ± size/2`` (pixel centres at 0.5, 1.5, …)."""

    size: int
    jump: int
    start: float

    def box(self, y: int, x: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of unit (y, x)'s field in input pixels, right/bottom exclusive;
        it may reach outside the image (padding)."""
        top = round(self.start + y * self.jump - self.size / 2)
        left = round(self.start + x * self.jump - self.size / 2)
        return top, left, top + self.size, left + self.size


def _arch(model: nn.Module) -> str:
    arch = getattr(model, "arch", None)
    if arch is None:
        arch = next((name for name in list_models() if type(model) is model_class(name)), None)
    if arch is None:
        raise ValueError(f"{type(model).__name__} is not a registered architecture; receptive fields come "
                         f"from alexnet.models.summary, which builds registered nets only")
    return arch


def receptive_field(model: nn.Module, layer: str, input_size: int) -> ReceptiveField:
    """The receptive field of conv ``layer`` at a square ``input_size``, read from
    :func:`alexnet.models.summary.summarize` (the numbers ``alexnet summary`` prints)."""
    check_conv_layer(model, layer)
    kwargs = dict(getattr(model, "model_kwargs", None) or {})
    if not kwargs and hasattr(model, "pooling"):
        kwargs["pooling"] = model.pooling
    in_channels = kwargs.pop("in_channels", getattr(model, "in_channels", 3))
    kwargs.pop("input_size", None)
    summary = summarize(_arch(model), input_size=input_size, in_channels=in_channels, **kwargs)
    name = model.LAYER_OUTPUTS[layer]
    row = next(r for r in summary["layers"] if r["name"] == name)
    return ReceptiveField(int(row["receptive_field"]), int(row["jump"]), float(row["start"]))


class _SkipBackward(torch.autograd.Function):
    """Forward: the wrapped module's output. Backward: the gradient passes unchanged."""

    @staticmethod
    def forward(ctx, x, module):
        with torch.no_grad():
            return module(x)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class LRNSkippedBackward(nn.Module):
    """LRN in the forward pass (so max-pooling switches are the net's own), identity backward:
    Zeiler & Fergus's deconvnet uses no contrast normalisation on the way down."""

    def __init__(self, lrn: nn.Module):
        super().__init__()
        self.lrn = lrn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SkipBackward.apply(x, self.lrn)


def hookable_copy(model: nn.Module, *, skip_lrn_backward: bool = False) -> nn.Module:
    """A copy of ``model`` in eval mode that Captum's ReLU hooks work on, sharing its parameters.

    Each ``nn.ReLU(inplace=True)`` becomes ``nn.ReLU()`` (a hook on an in-place module sees its
    input overwritten), and with ``skip_lrn_backward`` each :class:`LocalResponseNorm` is wrapped in
    :class:`LRNSkippedBackward`. The caller's model is not changed, so concurrent calls are safe.
    """
    shared = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    net = copy.deepcopy(model, memo=shared)
    swaps = []
    for parent in net.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU) and child.inplace:
                swaps.append((parent, name, nn.ReLU()))
            elif skip_lrn_backward and isinstance(child, (LocalResponseNorm, nn.LocalResponseNorm)):
                swaps.append((parent, name, LRNSkippedBackward(child)))
    for parent, name, new in swaps:
        setattr(parent, name, new)
    return net.eval()


class FeaturesOnly(nn.Module):
    """``net.forward_features`` as a module (what Captum's neuron methods run: no fc layers)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)
