"""``alexnet evaluate``'s job: weights files + a data split → top-1/top-5 error, files, a report.

    result = evaluate_weights(["runs/a"], "data/imagenet", views=10, out_dir="runs/a/eval")
    result["top1_error"], result["top5_error"]            # fractions in [0, 1]

Each weights file carries its own preprocessing (:mod:`alexnet.data.views`), so nets trained
differently (or torchvision's) can be evaluated, and averaged, on the same store.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Sequence

import torch

from ..data.loader import StoreLoader
from ..data.open import open_split
from ..data.sources.ilsvrc import ilsvrc2012_names
from ..data.views import Preprocessing, make_view_fn
from ..device import resolve_device, resolve_precision
from ..jsonl import JsonlWriter
from ..models import load
from ..progress import Progress
from ..provenance import provenance
from ..weights import WEIGHTS_NAME, read_weights, resolve_weights_path
from .metrics import RunningErrors, confusion_matrix, per_class_accuracy
from .outputs import LOG_NAME, paper_comparison, write_outputs
from .run import iter_log_probs

PROGRESS_EVERY_S = 30


def preprocessing_of(model, stored_size: int | None = None) -> Preprocessing:
    """A loaded net's :class:`Preprocessing` (older files: the net's own input size and channels,
    and ``stored_size``, the data's, when they do not say which stored images they take)."""
    meta = model.weights_meta
    return Preprocessing.from_dict(meta.preprocessing, mean_image=meta.mean_image, stored_size=stored_size,
                                   crop=getattr(model, "input_size", None), channels=getattr(model, "in_channels", None))


def training_data_of(weights: str | os.PathLike) -> str:
    """The data a net was trained on, as its weights file records it (``data`` or ``dataset``)."""
    path, _, meta = read_weights(weights)
    data = meta.config.get("data") or meta.config.get("dataset")
    if not data:
        raise ValueError(f"{path} does not record its training data; pass --data (a prepared store, "
                         f"a Fashion-MNIST idx directory, or `fashion-mnist`)")
    return str(data)


def default_out_dir(weights: str | os.PathLike, split: str, views: int, members: int = 1) -> Path:
    """``RUN_DIR/eval-<split>-<views>view[-ensembleN]`` beside a run's ``model.safetensors``; for any
    other file (torchvision's, a converted one) the same name, prefixed with the file's stem, in the
    current directory (never inside torch.hub's cache)."""
    path = resolve_weights_path(weights)
    name = f"eval-{split}-{views}view" + (f"-ensemble{members}" if members > 1 else "")
    if path.name == WEIGHTS_NAME:
        return path.parent / name
    return Path(f"{path.stem}-{name}")


def _same_classes(names: list[str], store) -> bool:
    """Weights name their classes by the store's names, its WordNet ids, by index (made by hand),
    or, for ILSVRC-2012's 1000 classes, by torchvision's ImageNet names (the same sorted-wnid order)."""
    if names in (list(store.class_names), list(store.wnids), [str(i) for i in range(len(names))]):
        return True
    imagenet = ilsvrc2012_names(list(store.wnids))
    return imagenet is not None and names == [imagenet[w] for w in store.wnids]


def evaluate_weights(weights: Sequence[str | os.PathLike], data: str | os.PathLike, *, split: str = "val",
                     views: int = 1, batch_size: int = 128, workers: int = 2,
                     device: str | torch.device | None = None, out_dir: str | os.PathLike | None = None,
                     progress: bool | None = None, bf16: bool | None = None) -> dict:
    """Evaluate one net, or the softmax average of several (an ensemble), on a data split.

    ``weights``: anything :func:`alexnet.models.load` takes (``model.safetensors``, a run
    directory, torchvision's ``.pth`` or ``torchvision:IMAGENET1K_V1``). ``data``: see
    :func:`alexnet.data.open.open_split`. ``views``: 1 (centre crop) or 10 (the paper's test).
    ``device``: None → CUDA when available; on CUDA the nets run in bf16 autocast, channels_last.
    ``bf16``: None → bf16 autocast on CUDA, float32 on a CPU; True/False: bf16 autocast or float32 on
    either (the CPU demo tests its weights in the precision it trained and validated them in).
    With ``out_dir``: ``confusion.csv`` / ``confusion.npy`` (rows = true class), ``per_class.json``,
    ``metrics.json`` and the progress log ``evaluate.jsonl``.

    Returns ``top1_error``, ``top5_error`` (fractions), ``loss``, ``num_images``, ``num_classes``,
    ``views``, ``checkpoints``, ``data``, ``split``, ``seconds``, ``images_per_second``,
    ``per_class_accuracy_mean``, ``worst_classes``, ``paper`` (SPEC §4 rows for 1000 classes), ``files``.
    """
    if not weights:
        raise ValueError("no checkpoint given")
    if views not in (1, 10):
        raise ValueError(f"views must be 1 (centre crop) or 10 (the paper's 10-view test), got {views}")
    paths = [resolve_weights_path(w) for w in weights]
    dev = resolve_device(device)
    models = [load(w) for w in weights]
    store = open_split(data, split)
    _check_ensemble(paths, models, store, data, split)
    view_fns = _view_fns(paths, models, store, data, views)
    precision = resolve_precision(dev, "auto" if bf16 is None else bf16)
    for model in models:
        precision.prepare_model(model.to(dev))
    # Raw stores (Fashion-MNIST: 28×28 grey) fit in memory whole; JPEG stores are streamed.
    loader = StoreLoader(store, batch_size, shuffle=False, drop_last=False, workers=workers, device=dev,
                         in_memory=store.encoding == "raw")
    out = Path(out_dir) if out_dir is not None else None
    log = JsonlWriter(out / LOG_NAME if out else None)
    log.write("start", checkpoints=[str(p) for p in paths], data=str(data), split=split, views=views,
              num_images=len(store), device=str(dev), batch_size=batch_size)
    start = time.time()
    metrics, pred, labels = _run(models, loader, view_fns, dev, precision, len(store), views, progress, log)
    seconds = time.time() - start
    result = {**metrics, "num_classes": store.num_classes, "views": views, "checkpoints": [str(p) for p in paths],
              "data": str(data), "split": split, "device": str(dev), "seconds": round(seconds, 3),
              "images_per_second": round(metrics["num_images"] / max(seconds, 1e-9), 1)}
    confusion = confusion_matrix(pred, labels, store.num_classes)
    acc = per_class_accuracy(confusion)
    result.update(_class_summary(acc, list(store.class_names)))
    result["paper"] = paper_comparison(result)
    if out is not None:
        result["provenance"] = provenance(dev)
        result = write_outputs(out, result, confusion, acc, list(store.class_names))
    log.write("end", **{k: v for k, v in result.items() if k not in ("paper", "files")})
    log.close()
    return result


def _check_ensemble(paths: list[Path], models: list, store, data, split: str) -> None:
    """Every net predicts the store's classes, in the store's order, under one class list."""
    first = models[0]
    for path, model in zip(paths, models):
        if model.num_classes != store.num_classes:
            raise ValueError(f"{path} predicts {model.num_classes} classes but {data} ({split}) has "
                             f"{store.num_classes}: evaluate a checkpoint trained on this data set")
        if model.weights_meta.class_names != first.weights_meta.class_names:
            raise ValueError(f"{path} and {paths[0]} name their classes differently; an ensemble must "
                             f"share one class list")
    names = first.weights_meta.class_names
    if not _same_classes(names, store):
        raise ValueError(f"{paths[0]} was trained with classes {names[:3]}…, the data has {store.class_names[:3]}…; "
                         f"the class order differs, so the scores would be meaningless")


def _view_fns(paths: list[Path], models: list, store, data, views: int) -> list:
    """Each net's view function of the stored images (nets with the same preprocessing share one)."""
    view_fns, fn_of = [], {}
    for path, model in zip(paths, models):
        pre = preprocessing_of(model, store.image_size)
        mean_image = model.weights_meta.mean_image if pre.mean_image else None
        key = (json.dumps(pre.to_dict(), sort_keys=True), id(mean_image))
        if key not in fn_of:
            fn_of[key] = make_view_fn(pre, mean_image, views=views)
        view_fns.append(fn_of[key])
        if pre.stored_size != store.image_size:
            raise ValueError(f"{path} takes views of {pre.stored_size}-pixel stored images, "
                             f"{data} stores {store.image_size}-pixel ones; prepare the data with "
                             f"`alexnet prepare --size {pre.stored_size}`")
    return view_fns


def _run(models, loader, view_fns, dev, precision, num_images: int, views: int, progress, log):
    """(metrics, predicted classes, labels) of the view- and net-averaged softmax over the loader."""
    running = RunningErrors()
    all_pred, all_labels = [], []
    batches = iter_log_probs(models, loader, view_fns, dev, precision, progress=False)
    bar = Progress(num_images, f"evaluate {views}-view", unit="img", show=progress, log=log,
                   interval_s=PROGRESS_EVERY_S, extra=lambda: dict(zip(("top1_error", "top5_error"), running.errors())))
    try:
        for log_probs, labels in batches:
            running.update(log_probs, labels)
            all_pred.append(log_probs.argmax(dim=1).cpu())
            all_labels.append(labels.cpu())
            bar.update(labels.shape[0])
        metrics = running.result()
    finally:
        batches.close()
        bar.close()
    return metrics, torch.cat(all_pred), torch.cat(all_labels).long()


def _class_summary(acc: torch.Tensor, class_names: list[str]) -> dict:
    """The mean per-class accuracy and the five worst classes (classes with images only)."""
    present = ~torch.isnan(acc)
    order = torch.argsort(acc.masked_fill(~present, float("inf")))[:min(5, int(present.sum()))]
    return {"per_class_accuracy_mean": float(acc[present].mean()) if present.any() else None,
            "worst_classes": [{"class": class_names[i], "accuracy": float(acc[i])} for i in order.tolist()]}
