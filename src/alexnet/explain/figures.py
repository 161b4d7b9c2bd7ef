"""Drawings for ``alexnet explain``: grids of patches and projections, occlusion maps, towers,
saliency overlays. Each takes what the functions of :mod:`alexnet.explain` return and writes a PNG
(matplotlib's Agg renderer, written atomically, :data:`alexnet.use.visualize.DPI`).

Projections and guided backpropagation are signed: drawn with zero as mid-grey, each tile scaled by
its own largest magnitude (:func:`signed_tile`), as Zeiler & Fergus show their projections.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..use.visualize import _minmax, _mosaic, _save

Row = tuple[str, Sequence[torch.Tensor], Sequence[str]]   # (row label, tiles (C, h, w) in [0, 1], captions)


def to_numpy(tile: torch.Tensor) -> np.ndarray:
    """(C, h, w) in [0, 1] → (h, w) for grey or (h, w, 3) for colour."""
    t = tile.detach().float().clamp(0, 1).cpu()
    return t[0].numpy() if t.shape[0] == 1 else t.permute(1, 2, 0).numpy()


def signed_tile(t: torch.Tensor) -> torch.Tensor:
    """A signed map (C, h, w) → [0, 1] with 0 at 0.5 and the largest magnitude at 0 or 1."""
    peak = t.abs().max().clamp_min(1e-12)
    return 0.5 + t / (2 * peak)


def overlay(image: torch.Tensor, heat: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """``heat`` (h, w), scaled to [0, 1] by its maximum, in the jet colour map over ``image`` (C, h, w)."""
    h = (heat / heat.max().clamp_min(1e-12)).clamp(0, 1).cpu().numpy()
    colour = torch.from_numpy(colormaps["jet"](h)[..., :3]).permute(2, 0, 1).float()
    base = image.expand(3, *image.shape[1:]).float().cpu()
    return (1 - alpha) * base + alpha * colour


def grid_figure(rows: Sequence[Row], out: str | os.PathLike, title: str, cell: float = 1.25) -> Path:
    """One row per entry: its label on the left, then its tiles with a caption under each.
    Size: ``cell`` inches (125 px) per tile, plus 1.6 in for the labels."""
    cols = max(len(tiles) for _, tiles, _ in rows)
    width = 1.6 + cols * cell
    head = 0.3 + 0.16 * len(textwrap.wrap(title, int(width * 15)))
    height = head + len(rows) * (cell + 0.25)
    fig = Figure(figsize=(width, height))
    fig.suptitle(textwrap.fill(title, int(width * 15)), fontsize=9, y=1 - 0.08 / height, va="top")
    for r, (label, tiles, captions) in enumerate(rows):
        top = 1 - (head + r * (cell + 0.25)) / height
        fig.text(0.1 / width, top - cell / 2 / height, label, fontsize=7, va="center", ha="left", wrap=True)
        for c, tile in enumerate(tiles):
            ax = fig.add_axes(((1.6 + c * cell) / width, top - (cell - 0.05) / height,
                               (cell - 0.08) / width, (cell - 0.08) / height))
            pixels = to_numpy(tile)
            ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(captions):
                ax.set_xlabel(captions[c], fontsize=6, labelpad=1)
    return _save(fig, out)


def occlusion_figure(image: torch.Tensor, result: dict, class_names: Sequence[str], out: str | os.PathLike,
                     title: str) -> Path:
    """Zeiler & Fergus's Figure 7 for one image: the image (the square drawn where p(target) is lowest),
    p(target) at each position of the square, the strongest conv5 map's total activation, and the most
    probable class at each position. 1600×450 px."""
    fig = Figure(figsize=(16, 4.5))
    fig.suptitle(title, fontsize=10)
    axes = [fig.add_axes((0.01 + i * 0.245, 0.08, 0.2, 0.76)) for i in range(4)]
    pixels = to_numpy(image)
    axes[0].imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=1)
    prob = result["probability"]
    r, c = divmod(int(prob.argmin()), prob.shape[1])
    p = result["patch"]
    axes[0].add_patch(Rectangle((result["cols"][c] - 0.5, result["rows"][r] - 0.5), p, p, fill=True,
                                facecolor="0.5", edgecolor="red", lw=1))
    axes[0].set_title(f"image, grey {p}×{p} square where p is lowest", fontsize=8)
    extent = _extent(result)
    target = class_names[result["target"]]
    im = axes[1].imshow(prob.numpy(), cmap="jet", extent=extent)     # its own range: the colour bar says it
    axes[1].set_title(f"(a) p({_short(target)}) with the square at each position", fontsize=8)
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.02)
    im = axes[2].imshow(result["activation"].numpy(), cmap="jet", extent=extent)
    axes[2].set_title(f"(b) total activation of {result['layer']} map {result['strongest_map']}", fontsize=8)
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.02)
    _class_map(axes[3], fig, result, class_names, extent)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, out)


def _extent(result: dict) -> tuple[float, float, float, float]:
    """Axes in image pixels: each cell centred on the square's centre."""
    half, rows, cols = result["patch"] / 2, result["rows"], result["cols"]
    step_r = rows[1] - rows[0] if len(rows) > 1 else 1
    step_c = cols[1] - cols[0] if len(cols) > 1 else 1
    return (cols[0] + half - step_c / 2, cols[-1] + half + step_c / 2, rows[-1] + half + step_r / 2,
            rows[0] + half - step_r / 2)


def _class_map(ax, fig: Figure, result: dict, class_names: Sequence[str], extent) -> None:
    cls = result["top_class_map"]
    found = [int(v) for v in torch.unique(cls)]
    order = sorted(found, key=lambda k: -(cls == k).sum().item())[:10]
    index = torch.full_like(cls, len(order))
    for i, k in enumerate(order):
        index[cls == k] = i
    cmap = colormaps["tab10"].resampled(10)
    ax.imshow(index.numpy(), cmap=cmap, vmin=-0.5, vmax=9.5, extent=extent, interpolation="nearest")
    ax.set_title("(c) most probable class at each position", fontsize=8)
    handles = [Rectangle((0, 0), 1, 1, color=cmap(i)) for i in range(len(order))]
    fig.legend(handles, [_short(class_names[k]) for k in order], loc="lower right", fontsize=6,
               bbox_to_anchor=(0.995, 0.08), frameon=False)


def _short(name: str, width: int = 18) -> str:
    return name if len(name) <= width else name[:width - 1] + "…"


def towers_figure(weight: torch.Tensor, report: dict, out: str | os.PathLike, title: str, cols: int = 16) -> Path:
    """conv1's kernels tower by tower (each min-max normalised), each panel titled with its tower's
    colour specificity when it can be measured. 800 px wide, 220 px per tower."""
    towers = report["towers"] if weight.shape[0] % report["towers"] == 0 else 1
    tiles = _minmax(weight)
    tiles = tiles.permute(0, 2, 3, 1).numpy() if weight.shape[1] == 3 else tiles[:, 0].numpy()
    per = len(tiles) // towers
    fig = Figure(figsize=(8, 0.4 + 2.2 * towers))
    fig.suptitle(title, fontsize=9)
    for t in range(towers):
        ax = fig.add_axes((0.02, 1 - (0.4 + 2.2 * (t + 1)) / (0.4 + 2.2 * towers) + 0.02, 0.96,
                           1.85 / (0.4 + 2.2 * towers)))
        ax.imshow(_mosaic(tiles[t * per:(t + 1) * per], cols), cmap="gray" if tiles.ndim == 3 else None,
                  interpolation="nearest")
        measured = report.get("per_tower")
        number = f": colour specificity {measured[t]:.3f}" if measured else ""
        name = f"tower {t + 1}, " if towers > 1 else ""
        ax.set_title(f"{name}kernels {t * per}-{(t + 1) * per - 1}{number}", fontsize=9)
        ax.axis("off")
    if report.get("message"):
        fig.text(0.5, 0.005, report["message"], ha="center", va="bottom", fontsize=6, wrap=True)
    return _save(fig, out)
