"""Classify images with a trained net: the weights carry classes, input size and preprocessing.

    from alexnet.use import Predictor
    predictor = Predictor("runs/demo/model.safetensors")          # device: CUDA if available
    predictor = Predictor("torchvision:IMAGENET1K_V1")            # torchvision's ImageNet weights
    predictor.predict(Image.open("cat.jpg"), topk=5)              # [[("tabby", 0.61), ...]]
    predictor.predict(["a.jpg", "b.png"], views=10)               # the paper's 10-view test
    fc7 = predictor.features(images, layer="fc7")                 # (N, 4096) float32 on the CPU

A picture becomes a stored-like image (:func:`alexnet.data.views.pil_to_stored`: what ``alexnet
prepare`` would have stored, or torchvision's resize for its weights), then goes through the
weights' own view function (:func:`alexnet.data.views.make_view_fn`), the same one ``alexnet
evaluate`` and training use: centre crop, or the 4 corners + centre and their flips for
``views=10``, whose softmax outputs are averaged as in the paper's section 6.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence, Union

import torch
from PIL import Image, ImageOps
from torch import nn

from .. import models
from ..data.views import VIEWS, make_view_fn, pil_to_stored
from ..device import resolve_device, resolve_precision
from ..evaluate.from_weights import preprocessing_of
from ..evaluate.run import batch_log_probs
from ..weights import resolve_weights_path
from .images import ImageReadError, open_image, to_mode
from .activations import FEATURE_LAYERS, conv_maps, layer_output

ImageLike = Union[Image.Image, str, os.PathLike]


@dataclass
class Prediction:
    """One image's outcome: ``topk`` [(class name, probability)] or the ``error`` that stopped it."""

    path: str
    topk: list[tuple[str, float]] | None = None
    error: str | None = None

    def to_json(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "top": [{"class": c, "probability": p} for c, p in self.topk]}


class Predictor:
    """A trained net in eval mode plus what it needs to read images.

    Args:
        weights: anything :func:`alexnet.models.load` takes (a ``model.safetensors`` or its run
            directory, torchvision's ``alexnet-owt-*.pth``, ``"torchvision:IMAGENET1K_V1"``), or a
            model built from such a file by :mod:`alexnet.models` (its ``weights_meta`` is used).
        device: "cpu", "cuda", "cuda:1"...; default CUDA when available.
        batch_size: images per forward pass when given many.
        amp: the precision (:func:`alexnet.device.resolve_precision`): ``"off"`` (default) keeps float32
            on every device, so the probabilities equal the reference pipelines' (torchvision's, Caffe's)
            to float rounding; ``"auto"`` is bf16 autocast on CUDA.
    """

    def __init__(self, weights: str | os.PathLike | nn.Module, device: str | torch.device | None = None,
                 *, batch_size: int = 64, amp: str = "off"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = resolve_device(device)
        self.precision = resolve_precision(self.device, amp, channels_last=False)
        self.batch_size = batch_size
        self.weights_path: str | None = None
        if isinstance(weights, nn.Module):
            model = weights
        else:
            self.weights_path = str(resolve_weights_path(weights))
            model = models.load(weights)
        meta = getattr(model, "weights_meta", None)
        if meta is None:
            raise ValueError("the model carries no weights metadata (class names, preprocessing); build it "
                             "with alexnet.models.load(PATH) or pass the weights path")
        self.class_names = list(meta.class_names)
        self.pre = preprocessing_of(model)
        self.preprocessing = self.pre.to_dict()
        self.mean_image = meta.mean_image if self.pre.mean_image else None
        self.channels = self.pre.channels
        self.input_size = self.pre.crop
        self._views = {v: make_view_fn(self.pre, self.mean_image, views=v) for v in VIEWS}
        self.model = model.to(self.device).eval()

    # -- inputs ---------------------------------------------------------------------------------
    def open(self, image: ImageLike) -> Image.Image:
        """A PIL image or a path → an upright image in the mode the weights expect (RGB or L)."""
        if isinstance(image, Image.Image):
            return to_mode(ImageOps.exif_transpose(image), self.channels)
        return open_image(image, self.channels)

    def stored(self, images: Sequence[ImageLike]) -> torch.Tensor:
        """Pictures → stored-like uint8 (B, C, S, S) (:func:`alexnet.data.views.pil_to_stored`)."""
        return pil_to_stored([self.open(im) for im in images], self.pre)

    def preprocess(self, images: Sequence[ImageLike], views: int = 1) -> torch.Tensor:
        """Pictures → the float batch the net takes: (B, C, S, S), or (10, B, C, S, S) for 10 views."""
        if views not in VIEWS:
            raise ValueError(f"views must be 1 (centre crop) or 10 (corners + centre and flips), got {views}")
        x = self._views[views](self.stored(images))
        return x[0] if views == 1 else x

    def _forward(self, x: torch.Tensor, fn) -> torch.Tensor:
        with torch.inference_mode(), self.precision.autocast_context(self.device.type):
            return fn(x.to(self.device, non_blocking=self.device.type == "cuda")).float().cpu()

    # -- classification ----------------------------------------------------------------------------
    def probabilities(self, images: ImageLike | Sequence[ImageLike], views: int = 1) -> torch.Tensor:
        """Softmax outputs (N, num_classes) on the CPU; 10 views are averaged as in the paper."""
        if views not in VIEWS:
            raise ValueError(f"views must be 1 (centre crop) or 10 (corners + centre and flips), got {views}")
        images = _as_list(images)
        out = []
        for start in range(0, len(images), self.batch_size):
            stored = self.stored(images[start:start + self.batch_size]).to(self.device)
            with torch.inference_mode():
                log_p = batch_log_probs([self.model], [self._views[views]], stored, self.device, self.precision)
            out.append(log_p.exp().cpu())
        return torch.cat(out) if out else torch.empty(0, len(self.class_names))

    def predict(self, images: ImageLike | Sequence[ImageLike], topk: int = 5,
                views: int = 1) -> list[list[tuple[str, float]]]:
        """Top-``topk`` (class name, probability) per image, best first.

        ``images``: a PIL image, a path, or a list of them. Raises ImageReadError for an unreadable
        path; use :meth:`predict_paths` to skip and report those instead.
        """
        probs = self.probabilities(images, views)
        return [self.top(p, topk) for p in probs]

    def top(self, probs: torch.Tensor, topk: int) -> list[tuple[str, float]]:
        """One softmax row (num_classes,) → its top-``topk`` (class name, probability), best first."""
        if topk < 1:
            raise ValueError(f"topk must be at least 1, got {topk}")
        values, indices = probs.topk(min(topk, probs.numel()))
        return [(self.class_names[i], float(v)) for v, i in zip(values.tolist(), indices.tolist())]

    def predict_paths(self, paths: Sequence[str | os.PathLike], topk: int = 5,
                      views: int = 1) -> Iterator[Prediction]:
        """Predict files batch by batch, in order; an unreadable file yields a Prediction with ``error``."""
        for start in range(0, len(paths), self.batch_size):
            opened: list[tuple[str, Image.Image]] = []
            for path in paths[start:start + self.batch_size]:
                try:
                    opened.append((str(path), open_image(path, self.channels)))
                except ImageReadError as e:
                    yield Prediction(str(path), error=e.reason)
            if opened:
                probs = self.probabilities([im for _, im in opened], views)
                for (path, _), p in zip(opened, probs):
                    yield Prediction(path, topk=self.top(p, topk))

    # -- features ---------------------------------------------------------------------------------
    def features(self, images: ImageLike | Sequence[ImageLike] | torch.Tensor,
                 layer: str = "fc7") -> torch.Tensor:
        """The ``layer`` vectors (fc7, fc6 or pool5; see :mod:`alexnet.use.activations`) → (N, D) float32, CPU.

        ``images``: PIL images / paths (preprocessed here, centre crop), or an already preprocessed
        float batch (N, C, S, S), which is fed as is.
        """
        if layer not in FEATURE_LAYERS:
            raise ValueError(f"unknown feature layer {layer!r}; choose one of {', '.join(FEATURE_LAYERS)}")
        if isinstance(images, torch.Tensor):
            batches = [images[i:i + self.batch_size] for i in range(0, len(images), self.batch_size)]
        else:
            images = _as_list(images)
            batches = (self.preprocess(images[i:i + self.batch_size])
                       for i in range(0, len(images), self.batch_size))
        out = [self._forward(x, lambda t: layer_output(self.model, t, layer)) for x in batches]
        return torch.cat(out) if out else torch.empty(0, 0)

    def conv_maps(self, image: ImageLike, layer: str = "conv1") -> torch.Tensor:
        """One image's feature maps at ``layer`` (conv1..conv5, after ReLU) → (C, H, W) on the CPU."""
        x = self.preprocess([image])
        return self._forward(x, lambda t: conv_maps(self.model, t, layer))[0]


def _as_list(images) -> list:
    if isinstance(images, (Image.Image, str, os.PathLike, Path)):
        return [images]
    return list(images)
