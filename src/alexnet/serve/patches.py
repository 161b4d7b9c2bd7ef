"""Top-9 patches per map among the ``--patches-from`` images, computed by
:func:`alexnet.explain.top_patches` once per (net, layer) and kept.

    patches = Patches("photos/", limit=500)                 # a folder, a prepared store, or fashion-mnist
    result = await patches.top(net, "conv2", map=7, k=9, compute=compute, timeout_s=120)

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
from ..data.open import FASHION_MNIST, looks_like_fashion_mnist, open_split
from ..use.images import ImageReadError, find_images, open_image
from .batching import Busy
from .pictures import data_url, png_bytes, to_pil

BATCH = 32


class ImageSource:
    """The images of a folder (or file list) or of a prepared store's val split, as stored-like uint8."""

    def __init__(self, spec: str | os.PathLike, channels: int, limit: int):
        text, path = str(spec), Path(spec)
        self.description = text
        if text == FASHION_MNIST or (path / "classes.json").is_file() or looks_like_fashion_mnist(path):
            store = open_split(text, "val")
            self.names = [f"val #{i}" for i in range(min(limit, len(store)))]
            self._store, self._paths = store, None
        else:
            self._paths = find_images([path])[:limit]
            self.names = [p.name for p in self._paths]
            self._store = None
        self.channels = channels

    def __len__(self) -> int:
        return len(self.names)

    def stored(self, net, indices: list[int]) -> torch.Tensor:
        if self._store is not None:
            return torch.stack([torch.from_numpy(self._store.decode(i).copy()).permute(2, 0, 1) for i in indices])
        images = []
        for i in indices:
            try:
                images.append(open_image(self._paths[i], self.channels))
            except ImageReadError:   # an unreadable file counts as a grey picture (it never wins)
                from PIL import Image
                images.append(Image.new("RGB" if self.channels == 3 else "L", (8, 8), 128))
        return net.predictor.stored(images)


class Patches:
    def __init__(self, spec: str | os.PathLike, limit: int):
        self.spec, self.limit = str(spec), limit
        self._sources: dict[int, ImageSource] = {}
        self._passes: dict[tuple[str, str], asyncio.Future] = {}

    def source(self, channels: int) -> ImageSource:
        if channels not in self._sources:
            self._sources[channels] = ImageSource(self.spec, channels, self.limit)
        return self._sources[channels]

    def _pass(self, net, layer: str) -> dict:
        """Every map's top-9 over the whole set (one forward pass per batch)."""
        source = self.source(net.predictor.channels)
        if len(source) == 0:
            raise ValueError(f"--patches-from {self.spec} holds no images")
        def batches():
            for start in range(0, len(source), BATCH):
                stored = source.stored(net, list(range(start, min(start + BATCH, len(source)))))
                yield net.net_input(stored).to(net.predictor.device)

        maps = range(explain.layer_channels(net.predictor.model, layer))
        with torch.no_grad():
            return explain.top_patches(net.predictor.model, batches(), layer, list(maps), k=9, total=len(source))

    async def top(self, net, layer: str, map: int, compute, timeout_s: float) -> dict:
        key = (net.id, layer)
        if key not in self._passes:
            self._passes[key] = asyncio.get_running_loop().run_in_executor(compute.executor, self._pass, net, layer)
        job = self._passes[key]
        try:
            best = await asyncio.wait_for(asyncio.shield(job), timeout_s)
        except asyncio.TimeoutError:
            raise Busy(f"the top patches of {layer} are still being computed over {len(self.source(net.predictor.channels))} "
                       f"images; retry in a while", retry_after_s=10) from None
        except Exception:
            del self._passes[key]      # a failed pass is tried again next time
            raise
        if map not in best:
            raise ValueError(f"map {map} is out of range: {layer} has {len(best)} maps")
        return await asyncio.get_running_loop().run_in_executor(compute.executor, self._draw, net, best[map])

    def _draw(self, net, winners) -> dict:
        source = self.source(net.predictor.channels)
        display = net.display_stored(source.stored(net, [p.image for p in winners]))
        return {"source": self.spec, "images": len(source), "patches": [
            {"name": source.names[p.image], "activation": p.activation, "unit": [p.y, p.x], "box": list(p.box),
             "png": data_url(png_bytes(to_pil(explain.crop(display[i], p.box))))}
            for i, p in enumerate(winners)]}
