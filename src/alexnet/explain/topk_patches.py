"""Zeiler & Fergus's Figure 2, right: the image patches that drive each feature map hardest.

    patches = top_patches(model, batches, "conv2", maps=[0, 5, 9], k=9)
    for p in patches[5]:                          # map 5's best, strongest first
        p.image, p.y, p.x, p.activation, p.box    # box: (top, left, bottom, right) input pixels

``batches``: one preprocessed tensor (N, C, H, W) or an iterable of them (image indices run on
across batches). Each image counts once per map: its strongest unit of that map; the ``k``
images with the strongest such units win (so nine patches are nine images, as in the paper's
figure, not nine neighbouring units of one image).

Each patch is the unit's receptive field in the input, from :func:`alexnet.models.summary.summarize`
(the numbers ``alexnet summary`` prints: size r, jump j, start s): unit (y, x) sees rows
``s + y·j − r/2 … s + y·j + r/2``. Near the border the field reaches past the image (zero padding
in the net); the box keeps those coordinates and the drawing pads with grey.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import torch
from torch import nn

from ..progress import Progress
from ..use.activations import conv_maps
from ._net import ReceptiveField, check_maps, receptive_field


@dataclass(frozen=True)
class TopPatch:
    """One winning unit: ``image`` (index in the images given), ``map``, its position (``y``, ``x``)
    in the map, its ``activation`` and its receptive field ``box`` (top, left, bottom, right)."""

    image: int
    map: int
    y: int
    x: int
    activation: float
    box: tuple[int, int, int, int]

    def to_json(self) -> dict:
        return asdict(self)


def _as_batches(batches) -> Iterable[torch.Tensor]:
    return [batches] if isinstance(batches, torch.Tensor) else batches


@torch.no_grad()
def top_patches(model: nn.Module, batches: torch.Tensor | Iterable[torch.Tensor], layer: str, maps: Sequence[int],
                k: int = 9, *, total: int | None = None, progress: bool | None = False) -> dict[int, list[TopPatch]]:
    """The ``k`` strongest images of each of ``maps`` in ``layer`` (see the module docstring).

    Returns {map: [TopPatch, ...]} strongest first. ``total``: the number of images, for progress.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    maps = check_maps(model, layer, maps)
    model = model.eval()
    best_v = torch.empty(len(maps), 0)
    best_i = torch.empty(len(maps), 0, dtype=torch.long)     # image index
    best_p = torch.empty(len(maps), 0, dtype=torch.long)     # flat position in the map
    seen, size, width = 0, None, None
    with Progress(total=total, desc=f"top patches {layer}", unit="img", show=progress) as bar:
        for x in _as_batches(batches):
            acts = conv_maps(model, x, layer)[:, maps].float()          # (B, M, h, w)
            size, width = x.shape[-1], acts.shape[-1]
            peak, where = acts.flatten(2).max(-1)                         # (B, M)
            images = torch.arange(seen, seen + x.shape[0]).expand(len(maps), -1)
            v = torch.cat([best_v, peak.T], 1)
            i = torch.cat([best_i, images], 1)
            p = torch.cat([best_p, where.T], 1)
            order = v.argsort(dim=1, descending=True, stable=True)[:, :k]
            best_v, best_i, best_p = v.gather(1, order), i.gather(1, order), p.gather(1, order)
            seen += x.shape[0]
            bar.update(x.shape[0])
    if seen == 0:
        raise ValueError("no images to search")
    field = receptive_field(model, layer, size)
    return {m: [_patch(field, int(best_i[r, c]), m, int(best_p[r, c]), width, float(best_v[r, c]))
                for c in range(best_v.shape[1])] for r, m in enumerate(maps)}


def _patch(field: ReceptiveField, image: int, m: int, flat: int, width: int, value: float) -> TopPatch:
    y, x = divmod(flat, width)
    return TopPatch(image, m, y, x, value, field.box(y, x))


def crop(image: torch.Tensor, box: tuple[int, int, int, int], fill: float = 0.5) -> torch.Tensor:
    """The ``box`` (top, left, bottom, right) of ``image`` (C, H, W); what lies outside is ``fill``."""
    top, left, bottom, right = box
    c, h, w = image.shape
    out = torch.full((c, bottom - top, right - left), fill, dtype=image.dtype)
    t, l, b, r = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
    if t < b and l < r:
        out[:, t - top:b - top, l - left:r - left] = image[:, t:b, l:r]
    return out
