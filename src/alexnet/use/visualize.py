"""Pictures of a trained net: conv1 kernels (Figure 3), top-5 bars (Figure 4, left), retrieval rows
(Figure 4, right), feature maps, and training curves.

    filters_figure(model, "filters.png")
    predictions_figure(predictor, ["a.jpg", "b.jpg"], "predictions.png")
    activations_figure(predictor, "a.jpg", "conv1.png", layer="conv1")
    retrieval_figure(query_paths, neighbour_paths, distances, "retrieval.png")
    curves_figure("runs/demo", "curves.png")          # alexnet.train.curves, re-exported here

All figures are drawn with matplotlib's Agg renderer (no display needed) at :data:`DPI` dots per
inch and written atomically; their pixel sizes are fixed by the content (see each function).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ..atomic import atomic_path
from ..models import AlexNet2012
from ..train.curves import curves_figure
from .images import ImageReadError, open_image
from .predict import Predictor

__all__ = ["activations_figure", "curves_figure", "filters_figure", "predictions_figure", "retrieval_figure"]

DPI = 100


def _save(fig: Figure, out: str | os.PathLike) -> Path:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return Path(out)


def _mosaic(tiles: np.ndarray, cols: int, gap: int = 1, fill: float = 1.0) -> np.ndarray:
    """(N, H, W[, 3]) tiles in [0, 1] → one image, ``cols`` per row, ``gap`` pixels of ``fill`` between."""
    n, h, w = tiles.shape[:3]
    rows = math.ceil(n / cols)
    shape = (rows * (h + gap) - gap, cols * (w + gap) - gap) + tiles.shape[3:]
    out = np.full(shape, fill, dtype=np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return out


def _minmax(x: torch.Tensor) -> torch.Tensor:
    """Scale each item of a batch (N, ...) to [0, 1] on its own (constant items become 0.5)."""
    flat = x.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = hi - lo
    scaled = torch.where(span > 0, (flat - lo) / span.clamp_min(1e-12), torch.full_like(flat, 0.5))
    return scaled.view_as(x)


# -- Figure 3: conv1 kernels ---------------------------------------------------------------------
def conv1_weight(model: nn.Module) -> torch.Tensor:
    """conv1 kernels, the net's first convolution: (96, C, 11, 11) of alexnet2012 and alexnet_d2l,
    (64, C, 11, 11) of alexnet_owt; in RGB order also for a net that takes BGR (Caffe's weights)."""
    conv1 = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    weight = conv1.weight.detach().float().cpu()
    meta = getattr(model, "weights_meta", None)
    return weight.flip(1) if meta is not None and meta.preprocessing.get("channel_order") == "BGR" else weight


def filters_figure(model: nn.Module, out: str | os.PathLike, cols: int = 16) -> Path:
    """The conv1 kernels as images, each min-max normalised on its own (the paper's Figure 3).

    alexnet2012 with two towers: kernels 1-48 (tower 1, the paper's GPU 1) in the upper panel,
    49-96 (tower 2) in the lower one. Grey kernels for 1-channel models. Size: 800 px wide,
    200 px tall per panel.
    """
    weight = conv1_weight(model)
    towers = getattr(model, "towers", 1) if isinstance(model, AlexNet2012) else 1
    tiles = _minmax(weight)
    tiles = tiles.permute(0, 2, 3, 1).numpy() if weight.shape[1] == 3 else tiles[:, 0].numpy()
    per = len(tiles) // towers
    fig = Figure(figsize=(8, 2 * towers))
    for t in range(towers):
        ax = fig.add_axes((0.02, 1 - (t + 1) / towers + 0.02 / towers, 0.96, 0.86 / towers))
        ax.imshow(_mosaic(tiles[t * per:(t + 1) * per], cols), cmap="gray" if tiles.ndim == 3 else None,
                  interpolation="nearest")
        label = f"tower {t + 1} (GPU {t + 1}): " if towers > 1 else ""
        ax.set_title(f"{label}conv1 kernels {t * per + 1}-{(t + 1) * per}, "
                     f"{weight.shape[2]}×{weight.shape[3]}×{weight.shape[1]}", fontsize=9)
        ax.axis("off")
    return _save(fig, out)


# -- feature maps ---------------------------------------------------------------------------------
def activations_figure(predictor: Predictor, image, out: str | os.PathLike, layer: str = "conv1") -> Path:
    """All feature maps of ``layer`` (after ReLU) for one image, each min-max normalised. 800×800 px."""
    maps = predictor.conv_maps(image, layer)
    cols = math.ceil(math.sqrt(len(maps)))
    fig = Figure(figsize=(8, 8))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.94))
    # NaN gaps and empty cells are left undrawn (white), apart from the colour scale.
    ax.imshow(_mosaic(_minmax(maps).numpy(), cols, gap=1, fill=np.nan), cmap="viridis", interpolation="nearest")
    ax.axis("off")
    name = Path(image).name if isinstance(image, (str, os.PathLike)) else "image"
    fig.suptitle(f"{layer} after ReLU: {maps.shape[0]} maps of {maps.shape[1]}×{maps.shape[2]} ({name})",
                 fontsize=10, y=0.985)
    return _save(fig, out)


# -- Figure 4, left: top-5 bars --------------------------------------------------------------------
def predictions_figure(predictor: Predictor, images: Sequence, out: str | os.PathLike, topk: int = 5,
                       views: int = 1) -> Path:
    """Each image above a bar chart of its top-``topk`` classes. 250 px wide per image, 500 px tall."""
    if not images:
        raise ValueError("predictions_figure needs at least one image")
    opened = [predictor.open(im) for im in images]
    tops = predictor.predict(opened, topk=topk, views=views)
    fig = Figure(figsize=(2.5 * len(opened), 5))
    n = len(opened)
    for i, (image, top) in enumerate(zip(opened, tops)):
        ax = fig.add_axes((i / n + 0.1 / n, 0.45, 0.8 / n, 0.5))
        ax.imshow(np.asarray(image), cmap="gray" if image.mode == "L" else None)
        ax.axis("off")
        source = images[i]
        if isinstance(source, (str, os.PathLike)):
            ax.set_title(Path(source).name, fontsize=8)
        bars = fig.add_axes((i / n + 0.35 / n, 0.06, 0.6 / n, 0.34))
        names = [c for c, _ in top][::-1]
        probs = [p for _, p in top][::-1]
        bars.barh(range(len(top)), probs, color=["#999999"] * (len(top) - 1) + ["#d62728"])
        bars.set_yticks(range(len(top)), [_short(c) for c in names], fontsize=7)
        bars.set_xlim(0, 1)
        for y, p in enumerate(probs):  # small probabilities (an untrained net's ~1/1000) stay readable
            bars.text(min(p, 0.6) + 0.02, y, f"{p:.3f}", va="center", fontsize=6)
        bars.tick_params(axis="x", labelsize=6)
    return _save(fig, out)


def _short(name: str, width: int = 14) -> str:
    return name if len(name) <= width else name[:width - 1] + "…"


# -- Figure 4, right: retrieval ----------------------------------------------------------------------
def _thumb(path: str, channels: int) -> np.ndarray | None:
    try:
        return np.asarray(open_image(path, channels))
    except ImageReadError:
        return None


def retrieval_figure(queries: Sequence[str], neighbours: Sequence[Sequence[str]],
                     distances: torch.Tensor | Sequence[Sequence[float]], out: str | os.PathLike,
                     channels: int = 3) -> Path:
    """One row per query: the query image, then its neighbours nearest first, distance under each.

    A neighbour whose file is gone is drawn as an empty cell marked "missing". Size: 160 px per
    column (query + k), 180 px per row.
    """
    rows, cols = len(queries), 1 + max(len(n) for n in neighbours)
    fig = Figure(figsize=(1.6 * cols, 1.8 * rows))
    cmap = "gray" if channels == 1 else None
    for r, query in enumerate(queries):
        cells = [(query, "query")] + [(p, f"d={float(d):.3g}") for p, d in zip(neighbours[r], distances[r])]
        for c, (path, label) in enumerate(cells):
            ax = fig.add_subplot(rows, cols, r * cols + c + 1)
            pixels = _thumb(path, channels)
            if pixels is None:
                ax.text(0.5, 0.5, "missing", ha="center", va="center", fontsize=8)
            else:
                ax.imshow(pixels, cmap=cmap)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(label, fontsize=7, color="#d62728" if c == 0 else "black")
            ax.set_xlabel(_short(Path(path).name, 20), fontsize=6)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.92, bottom=0.06, wspace=0.08, hspace=0.35)
    return _save(fig, out)
