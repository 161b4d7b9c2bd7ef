"""The paper's Figure 3, measured: how colour-specific each tower's conv1 kernels are.

    report = towers_report(model)                      # per-kernel and per-tower numbers, or a note why not
    tower_colour_specificity(weight, towers=2)         # the measure on a (K, 3, kh, kw) tensor

The paper (section 3.5): "the kernels on GPU 1 are largely color-agnostic, while the kernels on
GPU 2 are largely color-specific". In the two-tower net kernels 0–47 feed tower 1 and 48–95
tower 2 (conv2 is grouped, so each tower's conv2 sees only its own 48 maps).

The measure. A kernel w (3, kh, kw) answers a grey input (equal R, G, B) through its grey part
g = the mean of its three channel kernels; the rest, w − g, answers only colour differences.
*Colour specificity* = ‖w − g‖² / ‖w‖², the share of the kernel's energy outside the grey axis:
0 for a kernel that treats R, G and B alike, 2/3 for one that sees a single channel, 1 for a
colour-opponent kernel (e.g. R − G) that is blind to grey. It needs no threshold and no colour
space, and it is unchanged by the kernel's scale. The weights are first taken back to pixel
space (divided by the per-channel ``std`` of the preprocessing when there is one), since grey
means equal *pixel* values. A tower's number is the mean over its kernels.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

MEASURE = ("colour specificity = ||w - mean_c(w)||^2 / ||w||^2 per conv1 kernel (the share of its energy "
           "outside the grey axis: 0 colour-agnostic, 2/3 one channel only, 1 colour-opponent), averaged "
           "over the kernels of each tower")


def conv1_weight(model: nn.Module) -> torch.Tensor:
    """The first convolution's kernels (K, C, kh, kw), float32 on the CPU."""
    conv1 = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    return conv1.weight.detach().float().cpu()


def colour_specificity(weight: torch.Tensor, std: Sequence[float] | None = None) -> torch.Tensor:
    """‖w − mean_c(w)‖² / ‖w‖² for each kernel of ``weight`` (K, 3, kh, kw) → (K,) in [0, 1]."""
    if weight.ndim != 4 or weight.shape[1] != 3:
        raise ValueError(f"colour specificity needs RGB kernels (K, 3, kh, kw), got {tuple(weight.shape)}")
    w = weight.float()
    if std is not None:
        w = w / torch.tensor(std, dtype=w.dtype).view(1, 3, 1, 1)
    chroma = w - w.mean(1, keepdim=True)
    energy = w.square().flatten(1).sum(1)
    return chroma.square().flatten(1).sum(1) / energy.clamp_min(1e-30)


def tower_colour_specificity(weight: torch.Tensor, towers: int = 2, std: Sequence[float] | None = None) -> dict:
    """Per-kernel and per-tower colour specificity; tower t holds kernels [t·K/towers, (t+1)·K/towers)."""
    per_kernel = colour_specificity(weight, std)
    k = per_kernel.numel()
    if towers < 1 or k % towers:
        raise ValueError(f"{k} kernels cannot be split into {towers} towers")
    per = k // towers
    return {"measure": MEASURE, "towers": towers,
            "kernels": [[t * per, (t + 1) * per - 1] for t in range(towers)],
            "per_tower": [float(per_kernel[t * per:(t + 1) * per].mean()) for t in range(towers)],
            "per_kernel": [float(v) for v in per_kernel]}


def towers_of(model: nn.Module) -> int:
    """2 for the paper's two-tower net, else 1 (torchvision's and d2l's nets, the half-width net)."""
    return int(getattr(model, "towers", 1))


def towers_report(model: nn.Module) -> dict:
    """The measure on ``model``'s conv1, with ``message`` saying when the paper's claim cannot be checked:
    grey kernels (1 input channel) have no colour; a one-tower net has no tower split."""
    weight = conv1_weight(model)
    towers = towers_of(model)
    meta = getattr(model, "weights_meta", None)
    std = (meta.preprocessing or {}).get("std") if meta is not None else None
    base = {"measure": MEASURE, "towers": towers, "kernels_shape": list(weight.shape)}
    if weight.shape[1] != 3:
        return {**base, "per_tower": None, "per_kernel": None,
                "message": f"conv1 has {weight.shape[1]} input channel(s): grey kernels have no colour, so the "
                           f"paper's colour-agnostic/colour-specific split cannot be measured on this net"}
    result = {**base, **tower_colour_specificity(weight, towers, std)}
    if towers != 2:
        result["message"] = (f"this net has {towers} tower(s): the paper's claim compares two towers; the number "
                             f"above is over all {weight.shape[0]} kernels")
    else:
        result["message"] = None
    return result
