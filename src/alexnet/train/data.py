"""What a run reads: the data source, its loaders, and the transforms a recipe asks for.

    data = build_data(cfg, ctx)     # cfg: resolved config; ctx: DistContext
    data.train_loader, data.val_loader, data.train_transform, data.view_fn, data.preprocessing

Sources (``cfg["data"]`` / ``cfg["dataset"]``):

- a prepared store (the OUT directory of ``alexnet prepare``, recognised by ``classes.json``);
- Fashion-MNIST (``dataset: fashion-mnist``, or ``data`` pointing at its idx files or a
  torchvision root): prepared once into ``$ALEXNET_CACHE`` (default ``~/.cache/alexnet``) under
  ``fashion-mnist-<hash of the source path>`` and reused;
- an ImageFolder tree (``CLASS/*.jpg``, or ``train/CLASS/…`` and ``val/CLASS/…``): prepared
  once into the same cache under ``imagefolder-<name>-<hash>`` (JPEG 256×256, with its mean
  image and PCA), then read like any store. Re-preparing is skipped when the cache is complete;
  delete the cache directory after changing the images.

Transforms. Stores of 256×256 images (ImageNet, ImageFolders) get the recipe's augmentation:
``paper`` (random crop + flip + PCA lighting, minus the mean image), ``torchvision``
(RandomResizedCrop + flip, [0, 1], ImageNet mean/std), ``flip`` or ``none`` (centre crop,
[0, 1]). Small stores (Fashion-MNIST's 28×28) are resized whole to ``input_size``
(bilinear): ``paper`` subtracts the 28×28 mean image in [0, 255] and flips (the paper's crops and
RGB lighting do not apply to 28-pixel grey images); ``torchvision`` scales to [0, 1] and
normalises by the training set's mean/std and flips; ``flip``/``none`` scale to [0, 1] only (as
d2l). Evaluation always uses :func:`alexnet.evaluate.view_fn_from_preprocessing` on the
``preprocessing`` dict saved with the weights, so ``alexnet evaluate`` sees what training saw.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .distributed import DistContext, barrier

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def cache_dir() -> Path:
    """``$ALEXNET_CACHE`` or ``~/.cache/alexnet``: where sources are prepared automatically."""
    return Path(os.environ.get("ALEXNET_CACHE") or Path.home() / ".cache" / "alexnet")


@dataclass
class TrainData:
    train_loader: Any
    val_loader: Any | None
    train_transform: Callable[..., torch.Tensor]
    view_fn: Callable[[torch.Tensor], torch.Tensor]
    preprocessing: dict[str, Any]
    class_names: list[str]
    num_classes: int
    channels: int
    per_rank_batch: int
    description: str
    extra_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    train_store: Any = None
    val_store: Any = None


class ViewTrainTransform:
    """Training input from the evaluation view (centre crop / whole resized image), flipped
    left-right with probability ½ per image when ``flip``. Random numbers are drawn on the
    generator's device (the CPU by default) as in :mod:`alexnet.data.augment`."""

    def __init__(self, view_fn: Callable[[torch.Tensor], torch.Tensor], flip: bool):
        self.view_fn, self.flip = view_fn, flip

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = self.view_fn(images)[0]
        if not self.flip:
            return x
        gdev = generator.device if generator is not None else torch.device("cpu")
        flips = (torch.rand(x.shape[0], generator=generator, device=gdev) < 0.5).to(x.device)
        return torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)


def _key(path: Path) -> str:
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]


def _open_or_prepare(src: Path, root: Path, ctx: DistContext):
    """The train and val splits of ``root``, preparing ``src`` there first if needed."""
    from ..data.store import PreparedStore
    if ctx.local_rank == 0:
        try:
            PreparedStore(root, "train")
        except (FileNotFoundError, ValueError):
            from ..data.prepare import prepare
            prepare(src, root, split="all", progress=ctx.is_main)
    # Preparing can take hours (ImageNet); the other ranks wait in a CPU group with a long timeout
    # rather than NCCL's 10 minutes. On a shared file system, run `alexnet prepare` before torchrun.
    barrier(ctx, timeout=datetime.timedelta(hours=48))
    train = PreparedStore(root, "train")
    try:
        val = PreparedStore(root, "val")
    except FileNotFoundError:
        val = None
    return train, val, root


def open_stores(cfg: dict[str, Any], ctx: DistContext):
    """(train store, val store or None, description) for the config's data source."""
    from ..data.store import PreparedStore
    data = cfg["data"]
    if cfg["dataset"] == "fashion-mnist" or (data and _looks_like_fashion_mnist(Path(data))):
        from ..data.sources.fashion_mnist import find_fashion_mnist
        src = Path(find_fashion_mnist(data))
        train, val, root = _open_or_prepare(src, cache_dir() / f"fashion-mnist-{_key(src)}", ctx)
        return train, val, f"Fashion-MNIST from {src} (prepared at {root})"
    if not data:
        raise ValueError("no training data: pass --data (a prepared store, an ImageFolder, or Fashion-MNIST's "
                         "idx files) or --dataset fashion-mnist")
    path = Path(data)
    if not path.exists():
        raise FileNotFoundError(f"--data {data}: no such directory")
    if (path / "classes.json").is_file():
        train = PreparedStore(path, "train")
        try:
            val = PreparedStore(path, "val")
        except FileNotFoundError:
            val = None
        return train, val, f"prepared store {path}"
    if not path.is_dir():
        raise ValueError(f"--data {data} is a file; pass a directory (a prepared store, an ImageFolder tree, or "
                         f"Fashion-MNIST's idx files)")
    root = cache_dir() / f"imagefolder-{path.resolve().name}-{_key(path)}"
    train, val, root = _open_or_prepare(path, root, ctx)
    return train, val, f"ImageFolder {path} (prepared at {root})"


def _looks_like_fashion_mnist(path: Path) -> bool:
    return path.is_dir() and (any(path.glob("*idx*-ubyte*")) or (path / "FashionMNIST").is_dir())


def _channel_std(stats) -> list[float]:
    """Per-channel std in [0, 1] from the stored pixel covariance V·diag(λ)·Vᵀ."""
    cov = np.asarray(stats.eigvec) @ np.diag(np.asarray(stats.eigval)) @ np.asarray(stats.eigvec).T
    return [float(np.sqrt(max(v, 1e-12))) for v in np.diag(cov)]


LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as alexnet.evaluate turns RGB images grey


def _to_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    """A (C, H, W) mean image in the net's channel count (grey → RGB repeats, RGB → grey is luma)."""
    if image.shape[0] == channels:
        return image
    if image.shape[0] == 1 and channels == 3:
        return image.expand(3, -1, -1).contiguous()
    if image.shape[0] == 3 and channels == 1:
        return (image * torch.tensor(LUMA).view(3, 1, 1)).sum(0, keepdim=True)
    raise ValueError(f"cannot turn {image.shape[0]}-channel images into {channels}-channel ones")


def make_preprocessing(cfg: dict[str, Any], store) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
    """The weights-file ``preprocessing`` dict, its extra tensors, and the training augmentation kind."""
    size, crop, augment = store.image_size, cfg["input_size"], cfg["augment"]
    # The net's channels decide; grey stores are repeated to RGB and RGB stores turned grey (luma)
    # by the view function, and the mean image follows the same linear map.
    c = int(cfg["model"].get("in_channels", store.channels))
    small = size < crop or bool(cfg["whole_image"])
    stats = store.stats()
    pre = {"resize": crop if small else size, "crop": crop, "channels": c, "pixel_scale": 1.0,
           "mean": None, "std": None, "mean_image": False}
    extra: dict[str, torch.Tensor] = {}
    if augment == "paper":
        if stats is None:
            raise ValueError(f"the paper recipe subtracts the training set's mean image, but {store.root} has no "
                             f"stats/ (prepare its train split with `alexnet prepare`), or use --recipe d2l")
        pre.update(pixel_scale=255.0, mean_image=True)
        extra["mean_image"] = _to_channels(
            torch.from_numpy(np.ascontiguousarray(stats.mean_image)).permute(2, 0, 1).float(), c)
    elif augment == "torchvision":
        if small:
            if stats is None:
                raise ValueError(f"{store.root} has no stats/ to normalise with; prepare its train split")
            if c != store.channels:
                raise ValueError(f"the net takes {c}-channel images but {store.root} has {store.channels}; "
                                 f"per-channel normalisation cannot be carried across (use augment=paper or flip)")
            mean = stats.mean_image.reshape(-1, c).mean(axis=0) / float(stats.pixel_scale)
            pre.update(mean=[float(v) for v in mean], std=_channel_std(stats))
        else:
            pre.update(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))
    if small:
        kind = "resize+flip" if augment != "none" else "resize"
    else:
        kind = {"paper": "paper", "torchvision": "torchvision", "flip": "crop+flip", "none": "crop"}[augment]
    return pre, extra, kind


def build_data(cfg: dict[str, Any], ctx: DistContext | None = None) -> TrainData:
    """Open the data of ``cfg`` and build loaders and transforms for this rank."""
    from ..data.augment import PaperTrainTransform, RandomResizedCropTransform
    from ..data.loader import StoreLoader
    from ..evaluate import view_fn_from_preprocessing

    ctx = ctx or DistContext()
    if cfg["batch_size"] % ctx.world_size:
        raise ValueError(f"batch_size {cfg['batch_size']} is not divisible by the {ctx.world_size} processes; "
                         f"each rank takes batch_size / world_size images per step")
    train, val, description = open_stores(cfg, ctx)
    per_rank = cfg["batch_size"] // ctx.world_size
    pre, extra, kind = make_preprocessing(cfg, train)
    view_fn = view_fn_from_preprocessing(pre, extra.get("mean_image"), views=1, stored_size=train.image_size)
    if kind == "paper":
        transform = PaperTrainTransform(crop=cfg["input_size"], stats=train.stats(), alphastd=cfg["lighting_std"],
                                        flip=True, lighting=train.channels == 3 and cfg["lighting_std"] > 0)
    elif kind == "torchvision":
        transform = RandomResizedCropTransform(crop=cfg["input_size"], mean=IMAGENET_MEAN, std=IMAGENET_STD)
    else:
        transform = ViewTrainTransform(view_fn, flip=kind.endswith("flip"))
    in_memory = train.image_size < 64  # small stores (Fashion-MNIST) fit in memory easily
    # The rank's own GPU (cuda:LOCAL_RANK, or --device cuda:N): a bare "cuda" would be the current
    # device, cuda:0 in a one-process run on another GPU, so decoding would land on the wrong one.
    data_device = ctx.device if ctx.device.type == "cuda" else torch.device("cpu")
    train_loader = StoreLoader(train, per_rank, shuffle=True, seed=cfg["seed"], rank=ctx.rank,
                               world_size=ctx.world_size, drop_last=True, workers=cfg["workers"],
                               device=data_device, in_memory=in_memory)
    val_loader = None
    if val is not None and ctx.is_main:
        val_loader = StoreLoader(val, per_rank, shuffle=False, drop_last=False, workers=cfg["workers"],
                                 device=data_device, in_memory=in_memory)
    return TrainData(train_loader=train_loader, val_loader=val_loader, train_transform=transform, view_fn=view_fn,
                     preprocessing=pre, class_names=list(train.class_names), num_classes=train.num_classes,
                     channels=pre["channels"], per_rank_batch=per_rank,
                     description=f"{description}: {len(train)} train / {len(val) if val else 0} val images, "
                                 f"augmentation {kind}",
                     extra_tensors=extra, train_store=train, val_store=val)
