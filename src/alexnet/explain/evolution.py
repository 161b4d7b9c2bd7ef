"""Zeiler & Fergus's feature evolution (2013, section 4.1; their Figure 4): the strongest activation
of chosen maps at each epoch of a run, and how soon each layer settles.

    result = feature_evolution(model, "runs/demo", x, ["conv1", "conv5"], maps=[0, 1, 2])
    result["layers"]["conv1"]["maps"]["0"]      # per epoch: activation, image, y, x
    result["settled_epoch"]                      # {"conv1": 2, ..., "conv5": 6}

The run must keep its epochs (``--set keep_epoch_weights=true``: RUN/epochs/epoch-NNN.safetensors,
:mod:`alexnet.train.epochs`); ``model`` is the run's final net (for its architecture and fc layers,
which do not matter here). ``x`` is a fixed probe set of preprocessed images (N, C, S, S).

Zeiler & Fergus saw the lower layers converge within a few epochs and the upper ones only after
40-50. The number here that says the same: for each layer, each map's strongest activation on
every probe image (an N-vector per map); at each epoch, its Pearson correlation with the last
epoch's, averaged over the layer's maps (``correlation_with_last``). A layer has *settled* at the
first epoch from which that mean stays at or above :data:`SETTLED` (``settled_epoch``).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..progress import Progress
from ..train.epochs import list_epoch_features, load_epoch_features
from ..use.activations import layer_module
from ..weights import WEIGHTS_NAME
from ._net import check_conv_layer, check_maps

SETTLED = 0.9


def final_weights(run_dir: str | os.PathLike) -> Path:
    """RUN_DIR/model.safetensors, or a ValueError saying what evolution needs."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ValueError(f"{run_dir}: evolution reads a run directory (with epochs/ and {WEIGHTS_NAME}), "
                         f"not a file")
    list_epoch_features(run)
    if not (run / WEIGHTS_NAME).is_file():
        raise FileNotFoundError(f"{run / WEIGHTS_NAME} not found: the run has not finished")
    return run / WEIGHTS_NAME


def _peaks(net: nn.Module, x: torch.Tensor, layers: Sequence[str], batch_size: int
           ) -> dict[str, tuple[torch.Tensor, torch.Tensor, int]]:
    """Per layer: each image's strongest activation per map (N, C), its flat position (N, C) and the
    maps' width, from one forward pass per batch (a hook on every layer)."""
    found: dict[str, list] = {layer: [] for layer in layers}
    handles = [layer_module(net, layer).register_forward_hook(
        lambda _m, _i, out, layer=layer: found[layer].append(out.detach().float().cpu().clone())) for layer in layers]
    vals: dict[str, list] = {layer: [] for layer in layers}
    where: dict[str, list] = {layer: [] for layer in layers}
    width = {}
    try:
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                net.forward_features(x[start:start + batch_size])
                for layer in layers:
                    a = found[layer].pop()
                    width[layer] = a.shape[-1]
                    v, i = a.flatten(2).max(-1)
                    vals[layer].append(v)
                    where[layer].append(i)
    finally:
        for h in handles:
            h.remove()
    return {layer: (torch.cat(vals[layer]), torch.cat(where[layer]), width[layer]) for layer in layers}


def _mean_correlation(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Mean over columns (maps) of Pearson's r between ``a`` and ``b`` (N, C); maps constant in either skipped."""
    a, b = a - a.mean(0), b - b.mean(0)
    den = a.norm(dim=0) * b.norm(dim=0)
    ok = den > 1e-12
    if not ok.any():
        return None
    return float(((a * b).sum(0)[ok] / den[ok]).mean())


def settled_epoch(epochs: Sequence[int], correlations: Sequence[float | None], level: float = SETTLED) -> int | None:
    """The first epoch from which every correlation is ≥ ``level``."""
    first = None
    for e, c in zip(epochs, correlations):
        if c is None or c < level:
            first = None
        elif first is None:
            first = e
    return first


def feature_evolution(model: nn.Module, run_dir: str | os.PathLike, x: torch.Tensor, layers: Sequence[str],
                      maps: Sequence[int], *, batch_size: int = 64, progress: bool | None = False) -> dict:
    """See the module docstring. ``maps`` are drawn from each layer (indices beyond a layer's width are an error)."""
    for layer in layers:
        check_conv_layer(model, layer)
        check_maps(model, layer, maps)
    kept = list_epoch_features(run_dir)
    net = copy.deepcopy(model).eval()
    peaks: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {layer: [] for layer in layers}
    widths = {}
    with Progress(total=len(kept), desc="epochs", unit="epoch", show=progress) as bar:
        for _, path in kept:
            load_epoch_features(net, path)
            for layer, (v, where, width) in _peaks(net, x, layers, batch_size).items():
                peaks[layer].append((v, where))
                widths[layer] = width
            bar.update(1)
    epochs = [e for e, _ in kept]
    out = {"epochs": epochs, "probe_images": int(x.shape[0]), "settled_level": SETTLED, "layers": {},
           "settled_epoch": {}}
    for layer in layers:
        last = peaks[layer][-1][0]
        corr = [_mean_correlation(v, last) for v, _ in peaks[layer]]
        per_map = {}
        for m in maps:
            rows = []
            for e, (v, where) in zip(epochs, peaks[layer]):
                img = int(v[:, m].argmax())
                y, xx = divmod(int(where[img, m]), widths[layer])
                rows.append({"epoch": e, "activation": float(v[img, m]), "image": img, "y": y, "x": xx})
            per_map[str(m)] = rows
        out["layers"][layer] = {"maps": per_map, "correlation_with_last": corr}
        out["settled_epoch"][layer] = settled_epoch(epochs, corr)
    return out
