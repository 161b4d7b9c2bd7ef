"""Zeiler & Fergus's deconvnet (2013, section 2.1; their Figure 2, left): one activation projected
back to pixels.

    proj = deconv_projection(model, x, "conv2", map_index=7)          # (N, C, H, W), strongest unit per image
    proj = deconv_projections(model, x, "conv5", [(0, 12, 3, 4)])     # (image, map, y, x) each

The way down from one unit of ``layer`` (all other activations of the layer set to zero):

- max-unpooling through the *switches* of the forward pass (the position of each pooling window's
  maximum), which is what a max-pool's backward pass does;
- rectification: ReLU applied to the reconstructed signal (not the forward pass's ReLU mask, which
  is what makes a plain gradient differ);
- filtering with the transposed filters (a convolution's backward pass);
- no contrast normalisation: LRN runs in the forward pass (so the switches are the net's own) and
  is skipped on the way down, as the paper did.

This is Captum's ``NeuronDeconvolution`` (its ReLU backward is ``relu(grad_output)``) on a copy of
the net whose ReLUs are not in place and whose LRN layers pass the signal down unchanged
(:func:`alexnet.explain._net.hookable_copy`); tests/test_explain_deconvnet.py checks it against the
three steps written out. Captum gives the projection of a unit signal; every step is positively
homogeneous, so it is multiplied by the unit's activation, as the deconvnet starts from the
activation itself. A tanh net (``activation="tanh"``) has no ReLU to rectify with: its projection
passes the signal through tanh's derivative, which is not the paper's method.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..use.activations import conv_maps
from ._net import FeaturesOnly, check_maps, hookable_copy, layer_module, quiet_captum, require_captum

Unit = tuple[int, int, int, int]   # (image index in the batch, map, y, x)


def strongest_units(model: nn.Module, x: torch.Tensor, layer: str, maps: Sequence[int]) -> list[Unit]:
    """For each image of ``x`` and each of ``maps``: the unit (image, map, y, x) with the largest activation."""
    maps = check_maps(model, layer, maps)
    with torch.no_grad():
        acts = conv_maps(model.eval(), x, layer)[:, maps]                  # (N, M, H, W)
    width = acts.shape[-1]
    flat = acts.flatten(2).argmax(-1)                                        # (N, M)
    return [(n, m, int(flat[n, i]) // width, int(flat[n, i]) % width)
            for n in range(acts.shape[0]) for i, m in enumerate(maps)]


def strongest_maps(model: nn.Module, x: torch.Tensor, layer: str, n: int = 9) -> list[tuple[int, float]]:
    """The ``n`` maps of ``layer`` with the largest single activation on image ``x`` (1, C, H, W):
    [(map, activation)], strongest first."""
    with torch.no_grad():
        peak = conv_maps(model.eval(), x[:1], layer)[0].flatten(1).amax(1)
    values, indices = peak.topk(min(n, peak.numel()))
    return [(int(i), float(v)) for i, v in zip(indices, values)]


def deconv_projections(model: nn.Module, x: torch.Tensor, layer: str, units: Sequence[Unit],
                       batch_size: int = 16) -> torch.Tensor:
    """The deconvnet projection of each unit (image index into ``x``, map, y, x) → (len(units), C, H, W).

    Each projection starts from the unit's activation alone and ends in the net's input space
    (the preprocessed image's units), at the input's size.
    """
    attr = require_captum()
    units = [tuple(int(v) for v in u) for u in units]
    check_maps(model, layer, [u[1] for u in units] or [0])
    net = hookable_copy(model, skip_lrn_backward=True)
    deconv = attr.NeuronDeconvolution(FeaturesOnly(net), layer_module(net, layer))
    out = []
    for start in range(0, len(units), batch_size):
        chunk = units[start:start + batch_size]
        idx = torch.tensor(chunk, dtype=torch.long)
        inputs = x[idx[:, 0]].detach().clone()
        batch = torch.arange(len(chunk))

        def select(maps: torch.Tensor) -> torch.Tensor:
            return maps[batch, idx[:, 1], idx[:, 2], idx[:, 3]]

        with torch.no_grad():
            value = select(conv_maps(net, inputs, layer))
        with quiet_captum():
            projection = deconv.attribute(inputs.requires_grad_(True), neuron_selector=select)
        out.append(projection.detach() * value.view(-1, 1, 1, 1))
    return torch.cat(out) if out else torch.empty(0, *x.shape[1:])


def deconv_projection(model: nn.Module, x: torch.Tensor, layer: str, map_index: int,
                      position: tuple[int, int] | None = None) -> torch.Tensor:
    """Project map ``map_index`` of ``layer`` back to pixels for every image of ``x`` (N, C, H, W):
    its strongest unit per image, or the unit at ``position`` (y, x). Returns (N, C, H, W)."""
    if position is None:
        units = strongest_units(model, x, layer, [map_index])
    else:
        check_maps(model, layer, [map_index])
        units = [(n, map_index, int(position[0]), int(position[1])) for n in range(x.shape[0])]
    return deconv_projections(model, x, layer, units)
