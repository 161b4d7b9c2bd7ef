"""What one server holds: its nets, examples, feature index and limits (``app.state.served``)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

from fastapi import HTTPException, Request

from ..use.retrieve import FeatureIndex
from .batching import Compute
from .nets import Examples, ServedNet, unique_ids
from .patches import Patches
from .settings import Settings


@dataclass
class Served:
    nets: dict[str, ServedNet]
    settings: Settings
    compute: Compute
    examples: Examples = field(default_factory=Examples)
    index: FeatureIndex | None = None
    index_name: str = ""
    patches: Patches | None = None
    started: float = field(default_factory=time.time)

    @classmethod
    def load(cls, weights: Sequence[str | os.PathLike], *, settings: Settings | None = None,
             index: str | os.PathLike | None = None, examples: str | os.PathLike | None = None,
             patches_from: str | os.PathLike | None = None, device: str | None = None) -> "Served":
        """Load every net (first = default), the examples folder and the fc7 index; errors name the file."""
        if not weights:
            raise ValueError("serve needs at least one weights file")
        settings = settings or Settings()
        compute = Compute(max_pending=settings.queue_size)
        nets = {id: ServedNet.load(spec, id, compute, settings, device)
                for id, spec in zip(unique_ids(weights), weights)}
        if patches_from is not None and not os.path.exists(patches_from):
            raise FileNotFoundError(f"--patches-from {patches_from}: no such folder or prepared store")
        return cls(nets=nets, settings=settings, compute=compute, examples=Examples.from_folder(examples),
                   index=FeatureIndex.load(index) if index is not None else None,
                   index_name=os.path.basename(str(index)) if index is not None else "",
                   patches=Patches(patches_from, settings.patches_limit) if patches_from is not None else None)

    @property
    def default_id(self) -> str:
        return next(iter(self.nets))

    def net(self, id: str | None) -> ServedNet:
        if id is None:
            return self.nets[self.default_id]
        if id not in self.nets:
            raise HTTPException(404, f"no model {id!r}; this server has {', '.join(self.nets)}")
        return self.nets[id]

    async def start(self) -> None:
        # Captum (the deconvnet, Grad-CAM) takes a second or more to import, and each net's first summary
        # several: do both now, beside the first requests.
        self._warm_up = threading.Thread(target=_warm_up, args=(list(self.nets.values()),), name="warm-up",
                                         daemon=True)
        self._warm_up.start()
        for net in self.nets.values():
            for batcher in net.batchers:
                batcher.start()

    async def stop(self) -> None:
        for net in self.nets.values():
            for batcher in net.batchers:
                await batcher.stop()
        self.compute.shutdown()
        # A warm-up still inside torch when the interpreter exits aborts the process ("terminate called
        # without an active exception", status -6): a stop soon after the start waits for it.
        warm_up = getattr(self, "_warm_up", None)
        if warm_up is not None:
            await asyncio.to_thread(warm_up.join, 120)


def _warm_up(nets: list[ServedNet]) -> None:
    try:
        import captum.attr  # noqa: F401
    except ImportError:
        pass    # the explain endpoints say so (501)
    for net in nets:
        net.summary()


def served(request: Request) -> Served:
    return request.app.state.served
