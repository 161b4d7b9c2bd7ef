"""Zeiler & Fergus's occlusion test (2013, section 4.2; their Figure 7): a grey square slid over
the image, the net's answers recorded at each position of the square.

    result = occlusion_maps(model, x)            # x: one preprocessed image (1, C, H, W)
    result["probability"]      # (rows, cols): p(target) with the square at each position (Fig. 7 b, d)
    result["activation"]       # total activation of the strongest conv5 map there (Fig. 7 c, left)
    result["top_class"]        # the most probable class there (Fig. 7 e)

"Grey" is 0 in the net's input: the training mean (the mean image, or torchvision's per-channel
mean), i.e. the colour the net sees as no signal. ``target`` defaults to the unoccluded image's
top-1 class; pass the true class when it is known.

Why not Captum's ``Occlusion``: it returns a per-pixel attribution (the drop in one output,
averaged over every window covering the pixel), which is Figure 7's map of (a) only and, where
windows overlap, a smoothed one. This module runs one forward pass per position and reads all
three maps from it. With windows that do not overlap the two agree: Captum's attribution at a
pixel is p(unoccluded) − p(square there) (tests/test_explain_occlusion.py checks it).
"""

from __future__ import annotations

import torch
from torch import nn

from ..progress import Progress
from ._net import check_conv_layer


def positions(size: int, patch: int, stride: int) -> list[int]:
    """Top (or left) edges of the square: every ``stride`` pixels, the last one flush with the edge."""
    if not 1 <= patch <= size:
        raise ValueError(f"the occluding square must be 1 to {size} pixels wide, got {patch}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    out = list(range(0, size - patch + 1, stride))
    if out[-1] != size - patch:
        out.append(size - patch)
    return out


def default_patch(size: int) -> int:
    """The square's side when none is given: a seventh of the image (32 px at 224, 9 at 64)."""
    return max(1, size // 7)


def _forward(model: nn.Module, x: torch.Tensor, layer_mod: nn.Module, map_index: int):
    """(softmax (N, K), total activation of ``map_index`` (N,)) for a batch."""
    totals: list[torch.Tensor] = []
    handle = layer_mod.register_forward_hook(lambda _m, _i, out: totals.append(out[:, map_index].sum((-2, -1))))
    try:
        probs = torch.softmax(model(x).float(), dim=1)
    finally:
        handle.remove()
    return probs, totals[0].float()


@torch.no_grad()
def occlusion_maps(model: nn.Module, x: torch.Tensor, target: int | None = None, *, patch: int | None = None,
                   stride: int | None = None, layer: str = "conv5", fill: float = 0.0, batch_size: int = 32,
                   progress: bool | None = False) -> dict:
    """Slide a ``patch``×``patch`` square of value ``fill`` over ``x`` (1, C, H, W) every ``stride``
    pixels (defaults: :func:`default_patch`, half of it). Returns a dict of tensors and numbers:

    ``target``, ``target_probability`` (unoccluded), ``top_class`` / ``top_probability``
    (unoccluded), ``strongest_map`` (the map of ``layer`` with the largest total activation on the
    unoccluded image) and ``strongest_map_total``, ``rows``/``cols`` (the square's top/left edges),
    ``patch``, ``stride``, and the maps over positions: ``probability`` (p(target)), ``activation``
    (total activation of the strongest map), ``top_class_map`` and ``top_probability_map``.
    """
    model = model.eval()
    layer_mod = check_conv_layer(model, layer)
    x = x[:1]
    h, w = x.shape[-2:]
    patch = patch or default_patch(min(h, w))
    stride = stride or max(1, patch // 2)
    rows, cols = positions(h, patch, stride), positions(w, patch, stride)
    maps: list[torch.Tensor] = []
    handle = layer_mod.register_forward_hook(lambda _m, _i, out: maps.append(out.sum((-2, -1))))
    try:
        probs0 = torch.softmax(model(x).float(), dim=1)[0]
    finally:
        handle.remove()
    strongest = int(maps[0][0].argmax())
    top_p, top_c = probs0.max(0)
    target = int(top_c) if target is None else int(target)
    if not 0 <= target < probs0.numel():
        raise ValueError(f"target class {target} is out of range: the net has {probs0.numel()} classes")
    spots = [(r, c) for r in rows for c in cols]
    prob, act, cls, cls_p = [], [], [], []
    with Progress(total=len(spots), desc="occlusion", unit="pos", show=progress) as bar:
        for start in range(0, len(spots), batch_size):
            chunk = spots[start:start + batch_size]
            batch = x.repeat(len(chunk), 1, 1, 1)
            for i, (r, c) in enumerate(chunk):
                batch[i, :, r:r + patch, c:c + patch] = fill
            p, total = _forward(model, batch, layer_mod, strongest)
            prob.append(p[:, target])
            act.append(total)
            best_p, best_c = p.max(1)
            cls.append(best_c)
            cls_p.append(best_p)
            bar.update(len(chunk))
    shape = (len(rows), len(cols))
    return {"target": target, "target_probability": float(probs0[target]), "top_class": int(top_c),
            "top_probability": float(top_p), "layer": layer, "strongest_map": strongest,
            "strongest_map_total": float(maps[0][0, strongest]), "patch": patch, "stride": stride,
            "fill": fill, "rows": rows, "cols": cols,
            "probability": torch.cat(prob).view(shape), "activation": torch.cat(act).view(shape),
            "top_class_map": torch.cat(cls).view(shape), "top_probability_map": torch.cat(cls_p).view(shape)}
