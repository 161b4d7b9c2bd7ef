"""Running nets over views of stored images: softmax averaged over views and over nets.

    view = make_view_fn(pre, mean_image, views=10)                  # alexnet.data.views
    metrics = evaluate_model(model, loader, view, device=device)    # top-1/top-5 error, loss
    probs, labels = predict_probs([net_a, net_b], loader, [view_a, view_b], device=device)

A *view function* maps a stored uint8 batch ``(B, C, H, W)`` to the float views the net sees,
``(V, B, C, h, w)``; all V views of a batch go through the net as one forward pass of ``V·B``
images, and the V softmaxes are averaged (the paper's 10-view test); an ensemble's nets are
averaged the same way (its "5 CNNs").
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from ..data.views import ViewFunction
from ..device import Precision
from ..progress import Progress
from .metrics import RunningErrors

ViewFn = Callable[[Tensor], Tensor]


def distinct_views(v: Tensor, fn: ViewFn) -> Tensor:
    """The views ``fn`` returned, (V, B, C, h, w), without the repeats its ``distinct`` slice
    (a :class:`alexnet.data.views.ViewFunction` from :func:`alexnet.data.views.make_view_fn`,
    decided once from the preprocessing) leaves out:
    the paper's 10 views of an image the net sees whole (crop = the resized side, as Fashion-MNIST at
    64 px) are five copies of the image and five of its mirror, so the average over the 10 is the
    average over those 2 (exactly, in exact arithmetic), at a fifth of the cost. Other view
    functions keep every view."""
    return v[fn.distinct] if isinstance(fn, ViewFunction) else v


def batch_log_probs(models: Sequence[nn.Module], view_fns: Sequence[ViewFn], images: Tensor,
                    device: torch.device, precision: Precision | None = None) -> Tensor:
    """log of the softmax averaged over views and models for one stored batch → (B, K) float32.

    Averaged in log space (logsumexp of log-softmaxes) so that a confidently wrong net's tiny
    probabilities keep their true log-loss instead of underflowing to 0.
    """
    precision = precision or Precision()
    per_model = []
    views_of: dict[int, Tensor] = {}  # models sharing a view function share its views
    for model, fn in zip(models, view_fns):
        if id(fn) not in views_of:
            v = fn(images)
            if v.ndim != 5 or v.shape[1] != images.shape[0]:
                raise ValueError(f"a view function must return (V, B, C, h, w) for a batch of "
                                 f"{images.shape[0]}, got shape {tuple(v.shape)}")
            views_of[id(fn)] = distinct_views(v, fn)
        v = views_of[id(fn)]
        num_views, batch = v.shape[:2]
        x = v.reshape(num_views * batch, *v.shape[2:])
        x = precision.prepare_input(x)
        with precision.autocast_context(device.type):
            logits = model(x)
        # Softmax in float32 even under bf16 autocast: averaging needs the precision.
        log_p = logits.float().log_softmax(dim=-1).view(num_views, batch, -1)
        if per_model and log_p.shape[-1] != per_model[0].shape[-1]:
            raise ValueError(f"ensemble members disagree on the number of classes "
                             f"({per_model[0].shape[-1]} vs {log_p.shape[-1]})")
        per_model.append(log_p.logsumexp(dim=0) - math.log(num_views))
    return torch.stack(per_model).logsumexp(dim=0) - math.log(len(per_model))


def iter_log_probs(models, loader, view_fn, device, precision=None, progress=None, desc="evaluate"
                   ) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (log probs (B, K), labels (B,)) on ``device`` for each batch, models in eval mode
    (each model's mode is restored afterwards)."""
    models = [models] if isinstance(models, nn.Module) and not isinstance(models, nn.ModuleList) else list(models)
    if not models:
        raise ValueError("no models to evaluate")
    view_fns = [view_fn] * len(models) if callable(view_fn) else list(view_fn)
    if len(view_fns) != len(models):
        raise ValueError(f"{len(view_fns)} view functions for {len(models)} models")
    device = torch.device(device)
    was_training = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        with Progress(len(loader) if hasattr(loader, "__len__") else None, desc, unit="batch", show=progress,
                      leave=False) as bar:
            for images, labels in loader:
                # inference_mode only around the work, never across a yield: the caller's code
                # between batches (a training loop's, too) must not run with autograd switched off.
                with torch.inference_mode():
                    images = images.to(device, non_blocking=True)
                    labels = labels.to(device, non_blocking=True)
                    log_probs = batch_log_probs(models, view_fns, images, device, precision)
                bar.update(1)
                yield log_probs, labels
    finally:
        for m, mode in zip(models, was_training):
            m.train(mode)


def predict_probs(models: nn.Module | Sequence[nn.Module], loader, view_fn: ViewFn | Sequence[ViewFn], *,
                  device: str | torch.device, precision: Precision | None = None,
                  progress: bool | None = None) -> tuple[Tensor, Tensor]:
    """Softmax probabilities for every image of ``loader``, averaged over views and models.

    ``models``: one net or a list (an ensemble; each already on ``device``). ``view_fn``: one
    view function for all, or one per model (nets trained with different preprocessing).
    ``loader`` yields ``(uint8 (B, C, H, W), int64 (B,))``. Returns (probs (N, K) float32,
    labels (N,) int64) on the CPU, in loader order. ``precision``: the autocast dtype and memory
    format (:func:`alexnet.device.resolve_precision`; the models already in that format); None runs
    in float32.
    """
    all_probs, all_labels = [], []
    with contextlib.closing(iter_log_probs(models, loader, view_fn, device, precision, progress, "predict")) as it:
        for log_probs, labels in it:
            all_probs.append(log_probs.exp().cpu())
            all_labels.append(labels.cpu())
    if not all_probs:
        raise ValueError("the loader yielded no images")
    return torch.cat(all_probs), torch.cat(all_labels).long()


def evaluate_model(model: nn.Module, loader, view_fn: ViewFn, *, device: str | torch.device,
                   precision: Precision | None = None, progress: bool | None = None) -> dict:
    """Top-1 / top-5 error and loss of one net on every image of ``loader``.

    Returns ``{"top1_error", "top5_error", "loss", "num_images"}``: errors are fractions;
    ``loss`` is the mean of −log p(true class) under the view-averaged softmax (the
    cross-entropy when there is one view).
    """
    running = RunningErrors()
    with contextlib.closing(iter_log_probs(model, loader, view_fn, device, precision, progress)) as it:
        for log_probs, labels in it:
            running.update(log_probs, labels)
    return running.result()
