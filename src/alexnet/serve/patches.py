"""Top-9 patches per map among the ``--patches-from`` images, computed by
:func:`alexnet.explain.top_patches` once per (net, layer) and kept.

    patches = Patches("photos/", limit=2000)                # a folder, a prepared store, or fashion-mnist
    result = await patches.top(net, "conv2", map=7, compute=compute, timeout_s=120)   # the 9 best, drawn

The first request for a layer reads every image once (on the server's worker thread); while that
runs, requests for the same layer get :class:`alexnet.serve.batching.Busy` (503, Retry-After) and
the pass goes on, so a later retry finds it done.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import torch

from .. import explain
from ..explain.sources import ImageSet, open_image_set
from .batching import Busy
from .pictures import data_url, png_bytes, to_pil

BATCH = 32


class Patches:
    """The ``--patches-from`` images (:func:`alexnet.explain.sources.open_image_set`: a folder or files, a
    prepared store's val split, or ``fashion-mnist``), at most ``limit``, read per net through its own
    preprocessing; each (net, layer) pass is run once and kept."""

    def __init__(self, spec: str | os.PathLike, limit: int):
        self.spec, self.limit = str(spec), limit
        self._sets: dict[str, ImageSet] = {}
        self._passes: dict[tuple[str, str], asyncio.Future] = {}

    def images(self, net) -> ImageSet:
        if net.id not in self._sets:
            self._sets[net.id] = open_image_set(net.predictor, [self.spec], limit=self.limit)
        return self._sets[net.id]

    def _pass(self, net, layer: str) -> dict:
        """Every map's top-9 over the whole set (one forward pass per batch)."""
        images = self.images(net)
        maps = list(range(explain.layer_channels(net.predictor.model, layer)))
        with torch.no_grad():
            return explain.top_patches(net.predictor.model, images.batches(BATCH, progress=False), layer, maps,
                                       k=9, total=len(images))

    async def top(self, net, layer: str, map: int, compute, timeout_s: float) -> dict:
        key = (net.id, layer)
        if key not in self._passes:
            self._passes[key] = asyncio.get_running_loop().run_in_executor(compute.executor, self._pass, net, layer)
        job = self._passes[key]
        try:
            best = await asyncio.wait_for(asyncio.shield(job), timeout_s)
        except asyncio.TimeoutError:
            raise Busy(f"the top patches of {layer} are still being computed over the --patches-from images; "
                       f"retry in a while", retry_after_s=10) from None
        except Exception:
            del self._passes[key]      # a failed pass is tried again next time
            raise
        if map not in best:
            raise ValueError(f"map {map} is out of range: {layer} has {len(best)} maps")
        return await asyncio.get_running_loop().run_in_executor(compute.executor, self._draw, net, best[map])

    def _draw(self, net, winners) -> dict:
        images = self.images(net)
        display = images.display([p.image for p in winners])
        return {"source": images.description, "images": len(images), "patches": [
            {"name": Path(images.names[p.image]).name, "activation": p.activation, "unit": [p.y, p.x],
             "box": list(p.box), "png": data_url(png_bytes(to_pil(explain.crop(display[i], p.box))))}
            for i, p in enumerate(winners)]}
