"""The nets a server was started with, each with its batchers, and the files it may show.

    served = ServedNet.load("runs/demo/model.safetensors", "model", compute, settings)
    probs = await served.probabilities(images, views=1, timeout_s=30)     # (N, classes), batched
    examples = Examples.from_folder("photos/")                             # served by id, never by path

Clients name a net by its id (the weights file's stem, made unique) and an example or an index
row by its number: no request can name a file on the server.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from ..data.views import make_view_fn
from ..models.summary import summarize
from ..use.images import find_images
from ..use.predict import Predictor
from ..weights import file_sha256
from .batching import Batcher, Compute
from .settings import Settings


@dataclass
class ServedNet:
    id: str
    spec: str                      # what the user named on the command line (shown, not accepted back)
    predictor: Predictor
    predict_batcher: Batcher
    features_batcher: Batcher
    sha256: str = ""
    _summary: dict | None = field(default=None, repr=False)
    _summary_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, spec: str | os.PathLike, id: str, compute: Compute, settings: Settings,
             device: str | None = None) -> "ServedNet":
        predictor = Predictor(spec, device, batch_size=settings.max_batch)
        path = predictor.weights_path

        def predict_rows(views: int, images: list) -> torch.Tensor:
            return predictor.probabilities(images, views)

        def feature_rows(layer: str, images: list) -> torch.Tensor:
            return predictor.features(images, layer)

        kw = dict(max_batch=settings.max_batch, max_wait_s=settings.max_wait_ms / 1000, queue_size=settings.queue_size)
        return cls(id=id, spec=str(spec), predictor=predictor,
                   predict_batcher=Batcher(predict_rows, compute, **kw),
                   features_batcher=Batcher(feature_rows, compute, **kw),
                   sha256=file_sha256(path) if path and Path(path).is_file() else "")

    def display(self, images: Sequence) -> torch.Tensor:
        """What the net sees of ``images`` (its centre view: resized and cropped as the weights say) as
        pixels in [0, 1], (B, C, crop, crop): for drawing, before any mean or std is taken off."""
        return self.display_stored(self.predictor.stored(images))

    def display_stored(self, stored: torch.Tensor) -> torch.Tensor:
        """:meth:`display` of stored-like uint8 images (B, C, S, S)."""
        return display_view(self.predictor)(stored)

    def net_input(self, stored: torch.Tensor) -> torch.Tensor:
        """Stored-like uint8 images (B, C, S, S) → the float centre view the net takes (the weights' own view)."""
        return make_view_fn(self.predictor.pre, self.predictor.mean_image, views=1)(stored)[0]

    @property
    def batchers(self) -> tuple[Batcher, Batcher]:
        return self.predict_batcher, self.features_batcher

    @property
    def meta(self):
        return self.predictor.model.weights_meta

    @property
    def arch(self) -> str:
        return self.meta.arch

    def summary(self) -> dict:
        """``alexnet summary`` of this net at its own input size, classes, channels and options (computed once:
        the first run on the meta device takes seconds, so the server starts it in the background)."""
        with self._summary_lock:
            return self._summarize()

    def _summarize(self) -> dict:
        if self._summary is None:
            kwargs = {k: v for k, v in self.meta.model_kwargs.items()
                      if k not in ("num_classes", "in_channels", "input_size")}
            self._summary = summarize(self.arch, input_size=self.predictor.input_size,
                                      num_classes=len(self.predictor.class_names),
                                      in_channels=self.predictor.channels, **kwargs)
        return self._summary

    def describe(self) -> dict:
        """What ``GET /v1/model`` answers: arch, classes, preprocessing, source."""
        meta = self.meta
        return {"id": self.id, "arch": self.arch, "weights": Path(self.predictor.weights_path or self.spec).name,
                "sha256": self.sha256, "num_classes": len(self.predictor.class_names),
                "classes": self.predictor.class_names, "input_size": self.predictor.input_size,
                "channels": self.predictor.channels, "preprocessing": self.predictor.preprocessing,
                "model_kwargs": meta.model_kwargs, "source": meta.source, "metrics": meta.metrics,
                "device": str(self.predictor.device)}


def display_view(predictor: Predictor):
    """Stored-like uint8 (B, C, S, S) → the centre view in [0, 1] (B, C, crop, crop), no normalisation."""
    plain = dataclasses.replace(predictor.pre, pixel_scale=255.0, mean=None, std=None, mean_image=False)
    view = make_view_fn(plain, None, views=1)
    return lambda stored: (view(stored)[0] / 255.0).clamp(0, 1)


def unique_ids(specs: Sequence[str | os.PathLike]) -> list[str]:
    """A short id per weights file: its stem (``model``, ``alexnet-owt-7be5be79``), with -2, -3... on repeats;
    a run directory gives its own name."""
    ids: list[str] = []
    for spec in specs:
        text = str(spec)
        p = Path(text)
        stem = text.split(":", 1)[1] if text.startswith("torchvision:") else (p.name if p.is_dir() else p.stem)
        stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem) or "net"
        candidate, n = stem, 2
        while candidate in ids:
            candidate, n = f"{stem}-{n}", n + 1
        ids.append(candidate)
    return ids


@dataclass
class Examples:
    """Example images the server was started with (``--examples FOLDER``), known to clients by number."""

    paths: list[Path] = field(default_factory=list)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike | None) -> "Examples":
        if folder is None:
            return cls()
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"--examples {folder}: not a directory of images")
        return cls(find_images([folder]))

    def __len__(self) -> int:
        return len(self.paths)

    def listing(self) -> list[dict]:
        return [{"id": i, "name": p.name} for i, p in enumerate(self.paths)]

    def path(self, id: int) -> Path:
        if not 0 <= id < len(self.paths):
            raise KeyError(f"no example {id}; there are {len(self.paths)} (GET /v1/examples lists them)")
        return self.paths[id]


def thumbnail(image: Image.Image, side: int = 160) -> Image.Image:
    copy = image.copy()
    copy.thumbnail((side, side))
    return copy
