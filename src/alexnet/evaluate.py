"""Evaluation: top-1 / top-5 error, the paper's 10-view test, ensembles of CNNs (SPEC §2, §4).

The paper reports *error rates*: top-1 is the fraction of test images whose most probable
class is wrong, top-5 the fraction whose true class is not among the five most probable.
At test time it averages the softmax over ten 224×224 views of the 256×256 image (four
corners and the centre, and their horizontal flips), and for its "5 CNNs" result it averages
the softmaxes of five separately trained nets.

    from alexnet.evaluate import evaluate_weights
    result = evaluate_weights(["runs/a/model.safetensors"], "data/imagenet", views=10,
                              out_dir="runs/a/eval")
    result["top1_error"], result["top5_error"]            # fractions in [0, 1]

    # inside a training loop (model already on `device`):
    view_fn = view_fn_from_preprocessing(preprocessing, mean_image, views=1, stored_size=256)
    metrics = evaluate_model(model, val_loader, view_fn, device=device, amp_dtype=torch.bfloat16)

A *view function* maps a uint8 batch ``(B, C, H, W)`` as stored by ``alexnet prepare`` to the
float views the net sees, ``(V, B, C, h, w)``; all V views of a batch go through the net as one
forward pass of ``V·B`` images. Errors are fractions; the CLI prints them as percentages.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .atomic import atomic_path, atomic_write_text
from .device import resolve_device
from .weights import WEIGHTS_NAME

ViewFn = Callable[[Tensor], Tensor]


# SPEC §4: what the paper and its peers report on ILSVRC, as error percentages (top-1, top-5).
PAPER_RESULTS: list[tuple[str, float, float, str]] = [
    ("paper: 1 CNN, 10-view", 37.5, 17.0, "ILSVRC-2010 test"),
    ("paper: 1 CNN", 40.7, 18.2, "ILSVRC-2012 val"),
    ("paper: 5 CNNs averaged", 38.1, 16.4, "ILSVRC-2012 val"),
    ("paper: 7 CNNs* (22k pre-training)", 36.7, 15.4, "ILSVRC-2012 val"),
    ("Caffe bvlc_alexnet, centre crop", 42.9, 19.8, "ILSVRC-2012 val"),
    ("torchvision alexnet (one tower), centre crop", 43.48, 20.93, "ILSVRC-2012 val"),
    ("cuda-convnet2 1-GPU net, 10-view", 40.42, 18.15, "ILSVRC-2012 val"),
]
PAPER_NUM_CLASSES = 1000


# --------------------------------------------------------------------------- metrics


def topk_error(probs: Tensor, labels: Tensor, k: int) -> float:
    """Fraction of rows of ``probs`` (N, K) whose label is not among the k highest scores.

    ``k`` larger than K counts every image as correct (the true class is always among them).
    """
    if probs.ndim != 2 or labels.shape != probs.shape[:1]:
        raise ValueError(f"topk_error needs probs (N, K) and labels (N,), got {tuple(probs.shape)} "
                         f"and {tuple(labels.shape)}")
    if probs.shape[0] == 0:
        raise ValueError("topk_error: no images")
    k = min(k, probs.shape[1])
    top = probs.topk(k, dim=1).indices
    hit = (top == labels.to(top.device).view(-1, 1)).any(dim=1)
    return 1.0 - hit.float().mean().item()


def confusion_matrix(pred: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """(K, K) int64 counts: entry [t, p] is the number of images of true class t predicted as p."""
    pred, labels = pred.reshape(-1).long().cpu(), labels.reshape(-1).long().cpu()
    if pred.shape != labels.shape:
        raise ValueError(f"confusion_matrix: {pred.numel()} predictions for {labels.numel()} labels")
    for name, t in (("prediction", pred), ("label", labels)):
        if t.numel() and (t.min() < 0 or t.max() >= num_classes):
            raise ValueError(f"confusion_matrix: a {name} lies outside 0..{num_classes - 1}")
    counts = torch.bincount(labels * num_classes + pred, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def per_class_accuracy(confusion: Tensor) -> Tensor:
    """(K,) float: correct / total per true class (rows); NaN for a class with no images."""
    confusion = confusion.double()
    return (confusion.diagonal() / confusion.sum(dim=1)).float()


# --------------------------------------------------------------------------- views


def _centre_crop(images: Tensor, crop: int) -> Tensor:
    """The centre window of (..., H, W), at the offset :func:`alexnet.data.augment.ten_views` uses
    for its centre view (``(size - crop) // 2``), as a view without a copy."""
    y, x = (images.shape[-2] - crop) // 2, (images.shape[-1] - crop) // 2
    return images[..., y:y + crop, x:x + crop]


def view_fn_from_preprocessing(preprocessing: dict[str, Any], mean_image: Tensor | None, views: int = 1,
                               stored_size: int = 256) -> ViewFn:
    """Build the view function that turns stored uint8 images into the net's float input.

    ``preprocessing`` is the dict saved with the weights (see :mod:`alexnet.weights`):
    ``resize`` (side of the square image before cropping; null keeps ``stored_size``), ``crop``,
    ``channels``, ``pixel_scale`` (255 keeps [0, 255]; 1.0 maps to [0, 1]), ``mean``/``std``
    (per channel, in pixel_scale units, or null) and ``mean_image``. ``mean_image`` (C, S, S), in
    pixel_scale units, is subtracted from the stored image (S = ``stored_size``) or from the resized
    image (S = ``resize``), before cropping, so every view sees the mean at its own offset.

    ``views``: 1 (centre crop) or 10 (the paper's four corners + centre and their flips).
    Stored grey images are repeated to three channels when the net wants three, and RGB
    images are turned grey (ITU-R 601 luma) when it wants one.
    """
    if views not in (1, 10):
        raise ValueError(f"views must be 1 (centre crop) or 10 (the paper's 10-view test), got {views}")
    crop = preprocessing.get("crop")
    if not crop:
        raise ValueError("preprocessing has no 'crop': the weights file does not say what input size the net takes")
    crop = int(crop)
    resize = int(preprocessing.get("resize") or stored_size)
    if crop > resize:
        raise ValueError(f"preprocessing crops {crop}×{crop} out of a {resize}×{resize} image")
    channels = preprocessing.get("channels")
    scale = float(preprocessing.get("pixel_scale", 255.0)) / 255.0
    mean = preprocessing.get("mean")
    std = preprocessing.get("std")
    if mean_image is not None:
        if mean_image.ndim != 3 or mean_image.shape[1] != mean_image.shape[2]:
            raise ValueError(f"mean image must be (C, S, S), got {tuple(mean_image.shape)}")
        if mean_image.shape[-1] not in (stored_size, resize):
            raise ValueError(f"mean image is {mean_image.shape[-1]}×{mean_image.shape[-1]} but the images are "
                             f"{stored_size}×{stored_size} stored and {resize}×{resize} before cropping; "
                             f"the paper's mean image is taken over the uncropped training images")
        if channels and mean_image.shape[0] != int(channels):
            raise ValueError(f"mean image has {mean_image.shape[0]} channels, the net takes {channels}")
    cache: dict[torch.device, tuple[Tensor | None, Tensor | None, Tensor | None]] = {}

    def constants(device: torch.device) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        if device not in cache:
            m_img = None if mean_image is None else mean_image.to(device, torch.float32)
            m = None if mean is None else torch.tensor(mean, dtype=torch.float32, device=device).view(-1, 1, 1)
            s = None if std is None else torch.tensor(std, dtype=torch.float32, device=device).view(-1, 1, 1)
            cache[device] = (m_img, m, s)
        return cache[device]

    def to_views(images: Tensor) -> Tensor:
        if images.ndim != 4:
            raise ValueError(f"a view function takes a (B, C, H, W) batch, got shape {tuple(images.shape)}")
        if images.shape[-1] != stored_size or images.shape[-2] != stored_size:
            raise ValueError(f"expected stored images of {stored_size}×{stored_size}, got "
                             f"{images.shape[-2]}×{images.shape[-1]}")
        m_img, m, s = constants(images.device)
        x = images.float() * scale
        if channels and x.shape[1] != int(channels):
            if x.shape[1] == 1 and int(channels) == 3:
                x = x.expand(-1, 3, -1, -1)
            elif x.shape[1] == 3 and int(channels) == 1:
                luma = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
                x = (x * luma).sum(dim=1, keepdim=True)
            else:
                raise ValueError(f"images have {x.shape[1]} channels, the net takes {channels}")
        if m_img is not None and m_img.shape[-1] == stored_size:
            x = x - m_img
        if resize != stored_size:
            # Upsampling (Fashion-MNIST 28 → 224) or downsampling; antialias keeps the latter honest.
            x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False,
                              antialias=resize < stored_size)
        if m_img is not None and m_img.shape[-1] == resize and resize != stored_size:
            x = x - m_img
        if m is not None:
            x = x - m
        if s is not None:
            x = x / s
        if views == 10:
            from .data.augment import ten_views
            out = ten_views(x, crop)
        else:
            out = _centre_crop(x, crop).unsqueeze(0)
        return out

    return to_views


# --------------------------------------------------------------------------- prediction


def _progress_bar(loader, desc: str, progress: bool | None):
    from tqdm.auto import tqdm
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    total = len(loader) if hasattr(loader, "__len__") else None
    return tqdm(total=total, desc=desc, unit="batch", disable=disable, leave=False, dynamic_ncols=True)


def _batch_log_probs(models: Sequence[nn.Module], view_fns: Sequence[ViewFn], images: Tensor,
                     device: torch.device, amp_dtype: torch.dtype | None) -> Tensor:
    """log of the softmax averaged over views and models for one batch → (B, K) float32.

    Averaged in log space (logsumexp of log-softmaxes) so that a confidently wrong net's tiny
    probabilities keep their true log-loss instead of underflowing to 0.
    """
    per_model = []
    views_of: dict[int, Tensor] = {}  # models sharing a view function share its views
    for model, fn in zip(models, view_fns):
        if id(fn) not in views_of:
            v = fn(images)
            if v.ndim != 5 or v.shape[1] != images.shape[0]:
                raise ValueError(f"a view function must return (V, B, C, h, w) for a batch of "
                                 f"{images.shape[0]}, got shape {tuple(v.shape)}")
            views_of[id(fn)] = v
        v = views_of[id(fn)]
        num_views, batch = v.shape[:2]
        x = v.reshape(num_views * batch, *v.shape[2:])
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32,
                            enabled=amp_dtype is not None):
            logits = model(x)
        # Softmax in float32 even under bf16 autocast: averaging needs the precision.
        log_p = logits.float().log_softmax(dim=-1).view(num_views, batch, -1)
        if per_model and log_p.shape[-1] != per_model[0].shape[-1]:
            raise ValueError(f"ensemble members disagree on the number of classes "
                             f"({per_model[0].shape[-1]} vs {log_p.shape[-1]})")
        per_model.append(log_p.logsumexp(dim=0) - math.log(num_views))
    return torch.stack(per_model).logsumexp(dim=0) - math.log(len(per_model))


def _iter_probs(models, loader, view_fn, device, amp_dtype, progress, desc
                ) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (log probs (B, K), labels (B,)) on ``device`` for each batch, models in eval mode."""
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
        with _progress_bar(loader, desc, progress) as bar:
            for images, labels in loader:
                # inference_mode only around the work, never across a yield: the caller's code
                # between batches (a training loop's, too) must not run with autograd switched off.
                with torch.inference_mode():
                    images = images.to(device, non_blocking=True)
                    labels = labels.to(device, non_blocking=True)
                    log_probs = _batch_log_probs(models, view_fns, images, device, amp_dtype)
                bar.update(1)
                yield log_probs, labels
    finally:
        for m, mode in zip(models, was_training):
            m.train(mode)


def predict_probs(models: nn.Module | Sequence[nn.Module], loader, view_fn: ViewFn | Sequence[ViewFn], *,
                  device: str | torch.device, amp_dtype: torch.dtype | None = None,
                  progress: bool | None = None) -> tuple[Tensor, Tensor]:
    """Softmax probabilities for every image of ``loader``, averaged over views and models.

    ``models``: one net or a list (an ensemble; each already on ``device``). ``view_fn``: one
    view function for all, or one per model (nets trained with different preprocessing).
    ``loader`` yields ``(uint8 (B, C, H, W), int64 (B,))``. Returns (probs (N, K) float32,
    labels (N,) int64) on the CPU, in loader order. ``amp_dtype``: e.g. ``torch.bfloat16`` for
    autocast on CUDA; None runs in float32. Each model's train/eval mode is restored afterwards.
    """
    all_probs, all_labels = [], []
    with contextlib.closing(_iter_probs(models, loader, view_fn, device, amp_dtype, progress, "predict")) as it:
        for log_probs, labels in it:
            all_probs.append(log_probs.exp().cpu())
            all_labels.append(labels.cpu())
    if not all_probs:
        raise ValueError("the loader yielded no images")
    return torch.cat(all_probs), torch.cat(all_labels).long()


class _Running:
    """Running top-1/top-5 hits and log-loss, so that per-epoch evaluation keeps no (N, K) table."""

    def __init__(self) -> None:
        self.n = 0
        self.top1 = 0
        self.top5 = 0
        self.nll = 0.0

    def update(self, log_probs: Tensor, labels: Tensor) -> None:
        k = min(5, log_probs.shape[1])
        top = log_probs.topk(k, dim=1).indices
        hits = top == labels.view(-1, 1)
        self.top1 += int(hits[:, 0].sum())
        self.top5 += int(hits.any(dim=1).sum())
        self.nll += float(-log_probs.gather(1, labels.view(-1, 1)).sum())
        self.n += labels.numel()

    def result(self) -> dict[str, float | int]:
        if self.n == 0:
            raise ValueError("the loader yielded no images")
        return {"top1_error": 1.0 - self.top1 / self.n, "top5_error": 1.0 - self.top5 / self.n,
                "loss": self.nll / self.n, "num_images": self.n}


def evaluate_model(model: nn.Module, loader, view_fn: ViewFn, *, device: str | torch.device,
                   amp_dtype: torch.dtype | None = None, progress: bool | None = None) -> dict:
    """Top-1 / top-5 error and loss of one net on every image of ``loader``.

    Returns ``{"top1_error", "top5_error", "loss", "num_images"}``: errors are fractions;
    ``loss`` is the mean of −log p(true class) under the view-averaged softmax (the
    cross-entropy when there is one view). The model's train/eval mode is restored afterwards.
    """
    running = _Running()
    with contextlib.closing(_iter_probs(model, loader, view_fn, device, amp_dtype, progress, "evaluate")) as it:
        for log_probs, labels in it:
            running.update(log_probs, labels)
    return running.result()


# --------------------------------------------------------------------------- weights + data → result


def resolve_weights_path(path: str | os.PathLike) -> Path:
    """A ``model.safetensors`` path, or a run directory that contains one."""
    p = Path(path)
    if p.is_dir():
        candidate = p / WEIGHTS_NAME
        if not candidate.is_file():
            raise FileNotFoundError(f"checkpoint {str(path)!r} is a directory without a {WEIGHTS_NAME}; "
                                    f"pass the run directory of `alexnet train` or the weights file itself")
        return candidate
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r}: no such file or directory; pass a {WEIGHTS_NAME} "
                                f"written by `alexnet train` or the run directory that holds it")
    return p


def open_eval_store(data: str | os.PathLike, split: str = "val"):
    """Open the data to evaluate on as a :class:`~alexnet.data.store.PreparedStore`.

    ``data``: the OUT directory of ``alexnet prepare`` (only ``split`` needs to be prepared);
    or ``fashion-mnist``, a directory of Fashion-MNIST idx files or an ImageFolder tree, which
    are prepared once into ``$ALEXNET_CACHE`` (default ``~/.cache/alexnet``) exactly as
    ``alexnet train`` prepares them, so training and evaluation share one prepared copy.
    """
    from .data.store import PreparedStore
    p = Path(data)
    if str(data) != "fashion-mnist":
        if not p.exists():
            raise FileNotFoundError(f"data {str(data)!r}: no such directory; pass the OUT directory of "
                                    f"`alexnet prepare`, a Fashion-MNIST idx directory, or `fashion-mnist`")
        if (p / "classes.json").is_file():
            return PreparedStore(p, split)
    from .train.data import open_stores
    from .train.distributed import DistContext
    cfg = {"data": None, "dataset": "fashion-mnist"} if str(data) == "fashion-mnist" else \
        {"data": str(data), "dataset": None}
    train, val, description = open_stores(cfg, DistContext())
    store = {"train": train, "val": val}.get(split)
    if store is None:
        raise FileNotFoundError(f"{description} has no {split!r} split (splits: train"
                                f"{', val' if val is not None else ''})")
    return store


def _weights_preprocessing(path: Path, model: nn.Module) -> tuple[dict, Tensor | None]:
    meta = model.weights_meta
    pre = dict(meta.preprocessing or {})
    # Older or hand-made files may omit the crop: the net's own input size is the crop it was built for.
    pre.setdefault("crop", getattr(model, "input_size", None))
    pre.setdefault("channels", getattr(model, "in_channels", None))
    wants_mean = pre.get("mean_image", meta.mean_image is not None)
    if wants_mean and meta.mean_image is None:
        raise ValueError(f"{path}: its preprocessing subtracts a mean image but the file holds no "
                         "preprocess.mean_image tensor; save it with save_weights(..., "
                         "extra_tensors={'mean_image': ...})")
    return pre, meta.mean_image if wants_mean else None


class _JsonlLog:
    """Appends one JSON object per line; a no-op without a path."""

    def __init__(self, path: Path | None) -> None:
        self.f = open(path, "a", encoding="utf-8") if path else None

    def write(self, **record: Any) -> None:
        if self.f:
            self.f.write(json.dumps({"time": round(time.time(), 3), **record}) + "\n")
            self.f.flush()

    def close(self) -> None:
        if self.f:
            self.f.close()


def paper_comparison(result: dict) -> list[dict]:
    """The SPEC §4 table next to this result, for 1000-class data (empty otherwise)."""
    if result.get("num_classes") != PAPER_NUM_CLASSES:
        return []
    return [{"model": name, "top1_error": t1, "top5_error": t5, "where": where}
            for name, t1, t5, where in PAPER_RESULTS]


def _write_outputs(out_dir: Path, result: dict, confusion: Tensor, acc: Tensor, class_names: list[str]) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"confusion_csv": out_dir / "confusion.csv", "confusion_npy": out_dir / "confusion.npy",
             "per_class": out_dir / "per_class.json", "metrics": out_dir / "metrics.json",
             "log": out_dir / "evaluate.jsonl"}
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["true\\predicted", *class_names])
    for name, row in zip(class_names, confusion.tolist()):
        writer.writerow([name, *row])
    atomic_write_text(files["confusion_csv"], buf.getvalue())
    with atomic_path(files["confusion_npy"]) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, confusion.numpy())
    totals = confusion.sum(dim=1).tolist()
    per_class = [{"index": i, "class": name, "images": totals[i],
                  "correct": int(confusion[i, i]),
                  "accuracy": None if math.isnan(a) else a}
                 for i, (name, a) in enumerate(zip(class_names, acc.tolist()))]
    atomic_write_text(files["per_class"], json.dumps(per_class, indent=1) + "\n")
    result["files"] = {k: str(v) for k, v in files.items()}
    atomic_write_text(files["metrics"], json.dumps(result, indent=1) + "\n")
    return result


def evaluate_weights(weights: Sequence[str | os.PathLike], data: str | os.PathLike, *, split: str = "val",
                     views: int = 1, batch_size: int = 128, workers: int = 2,
                     device: str | torch.device | None = None, out_dir: str | os.PathLike | None = None,
                     progress: bool | None = None) -> dict:
    """Evaluate one weights file, or the softmax average of several (an ensemble), on a data split.

    ``weights``: ``model.safetensors`` files (or run directories holding one) written by this
    project; each carries its own preprocessing. ``data``: see :func:`open_eval_store`.
    ``views``: 1 (centre crop) or 10 (the paper's 10-view test). ``device``: None → CUDA when
    available; on CUDA the nets run in bf16 autocast with channels_last tensors.
    With ``out_dir``: writes ``confusion.csv`` / ``confusion.npy`` (rows = true class),
    ``per_class.json``, ``metrics.json`` and the progress log ``evaluate.jsonl``.

    Returns a dict: ``top1_error``, ``top5_error`` (fractions), ``loss``, ``num_images``,
    ``num_classes``, ``views``, ``checkpoints``, ``data``, ``split``, ``seconds``,
    ``images_per_second``, ``per_class_accuracy_mean``, ``worst_classes``, ``paper`` (SPEC §4 rows
    when the data has 1000 classes) and ``files``.
    """
    from .models import load
    from .data.loader import StoreLoader

    if not weights:
        raise ValueError("no checkpoint given")
    if views not in (1, 10):
        raise ValueError(f"views must be 1 (centre crop) or 10 (the paper's 10-view test), got {views}")
    paths = [resolve_weights_path(w) for w in weights]
    dev = resolve_device(device)
    models = [load(p) for p in paths]
    store = open_eval_store(data, split)
    first = models[0]
    for path, model in zip(paths, models):
        if model.num_classes != store.num_classes:
            raise ValueError(f"{path} predicts {model.num_classes} classes but {data} ({split}) has "
                             f"{store.num_classes}: evaluate a checkpoint trained on this data set")
        if model.weights_meta.class_names != first.weights_meta.class_names:
            raise ValueError(f"{path} and {paths[0]} name their classes differently; an ensemble must "
                             f"share one class list")
    store_names = list(store.class_names)
    names = first.weights_meta.class_names
    # Weights name their classes by the store's names, its WordNet ids, or (made by hand) by index.
    if names not in (store_names, list(store.wnids), [str(i) for i in range(len(names))]):
        raise ValueError(f"{paths[0]} was trained with classes {names[:3]}…, the data has {store_names[:3]}…; "
                         f"the class order differs, so the scores would be meaningless")
    class_names = store_names

    view_fns = []
    fn_of: dict[str, ViewFn] = {}
    for path, model in zip(paths, models):
        pre, mean_image = _weights_preprocessing(path, model)
        key = json.dumps(pre, sort_keys=True) + str(id(mean_image) if mean_image is not None else None)
        if key not in fn_of:
            fn_of[key] = view_fn_from_preprocessing(pre, mean_image, views=views, stored_size=store.image_size)
        view_fns.append(fn_of[key])
        model.to(dev)
        if dev.type == "cuda":
            model.to(memory_format=torch.channels_last)
    amp_dtype = torch.bfloat16 if dev.type == "cuda" else None

    # Raw stores (Fashion-MNIST: 28×28 grey) fit in memory whole; JPEG stores are streamed.
    loader = StoreLoader(store, batch_size, shuffle=False, drop_last=False, workers=workers, device=dev,
                         in_memory=store.encoding == "raw")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    log = _JsonlLog(out / "evaluate.jsonl" if out else None)
    log.write(event="start", checkpoints=[str(p) for p in paths], data=str(data), split=split, views=views,
              num_images=len(store), device=str(dev), batch_size=batch_size)
    start = last = time.time()
    running = _Running()
    all_pred, all_labels = [], []
    bar_shown = sys.stderr.isatty() if progress is None else progress
    batches = _iter_probs(models, loader, view_fns, dev, amp_dtype, progress, f"evaluate {views}-view")
    try:
        for log_probs, labels in batches:
            running.update(log_probs, labels)
            all_pred.append(log_probs.argmax(dim=1).cpu())
            all_labels.append(labels.cpu())
            now = time.time()
            if now - last >= 30:
                last = now
                record = dict(event="progress", images=running.n, of=len(store),
                              top1_error=1 - running.top1 / running.n, top5_error=1 - running.top5 / running.n,
                              images_per_second=running.n / (now - start))
                log.write(**record)
                if not bar_shown:  # no bar to watch: one line per interval instead
                    print(f"evaluate: {running.n}/{len(store)} images, running top-1 error "
                          f"{100 * record['top1_error']:.2f}%", file=sys.stderr, flush=True)
        metrics = running.result()
    finally:
        batches.close()
        log.close()
    seconds = time.time() - start
    pred, labels = torch.cat(all_pred), torch.cat(all_labels).long()
    confusion = confusion_matrix(pred, labels, store.num_classes)
    acc = per_class_accuracy(confusion)
    present = ~torch.isnan(acc)
    order = torch.argsort(acc.masked_fill(~present, float("inf")))[:min(5, int(present.sum()))]
    result = {
        **metrics,
        "num_classes": store.num_classes,
        "views": views,
        "checkpoints": [str(p) for p in paths],
        "data": str(data),
        "split": split,
        "device": str(dev),
        "seconds": round(seconds, 3),
        "images_per_second": round(metrics["num_images"] / max(seconds, 1e-9), 1),
        "per_class_accuracy_mean": float(acc[present].mean()) if present.any() else None,
        "worst_classes": [{"class": class_names[i], "accuracy": float(acc[i])} for i in order.tolist()],
    }
    result["paper"] = paper_comparison(result)
    if out is not None:
        result = _write_outputs(out, result, confusion, acc, class_names)
        log = _JsonlLog(out / "evaluate.jsonl")
        log.write(event="end", **{k: v for k, v in result.items() if k not in ("paper", "files")})
        log.close()
    return result


def format_result(result: dict) -> str:
    """A readable summary of :func:`evaluate_weights`'s result, with the paper's numbers for 1000 classes."""
    n_ckpt = len(result["checkpoints"])
    what = result["checkpoints"][0] if n_ckpt == 1 else f"ensemble of {n_ckpt} CNNs (softmaxes averaged)"
    view_text = "10-view (4 corners + centre, and flips)" if result["views"] == 10 else "centre crop"
    lines = [
        f"model:   {what}",
        f"data:    {result['data']} [{result['split']}], {result['num_images']} images, "
        f"{result['num_classes']} classes, {view_text}",
        f"top-1 error: {100 * result['top1_error']:6.2f}%   (accuracy {100 * (1 - result['top1_error']):.2f}%)",
        f"top-5 error: {100 * result['top5_error']:6.2f}%   (accuracy {100 * (1 - result['top5_error']):.2f}%)",
        f"loss:        {result['loss']:.4f}",
    ]
    if result.get("per_class_accuracy_mean") is not None:
        lines.append(f"mean per-class accuracy: {100 * result['per_class_accuracy_mean']:.2f}%")
    if result.get("worst_classes"):
        worst = ", ".join(f"{w['class']} {100 * w['accuracy']:.1f}%" for w in result["worst_classes"])
        lines.append(f"hardest classes: {worst}")
    lines.append(f"speed:   {result['images_per_second']} images/s on {result['device']} ({result['seconds']} s)")
    if result.get("paper"):
        lines.append("")
        lines.append(f"{'compared with (SPEC §4)':<46} {'top-1':>7} {'top-5':>7}  where")
        lines.append(f"{'this run':<46} {100 * result['top1_error']:7.2f} {100 * result['top5_error']:7.2f}  "
                     f"{result['split']}")
        for row in result["paper"]:
            lines.append(f"{row['model']:<46} {row['top1_error']:7.2f} {row['top5_error']:7.2f}  {row['where']}")
    if result.get("files"):
        lines.append("")
        lines.append("wrote: " + ", ".join(result["files"].values()))
    return "\n".join(lines)
