"""What a run reads: the data (:mod:`alexnet.data.open`), its loaders, and the transforms a recipe asks for.

    data = build_data(cfg, ctx)     # cfg: Config; ctx: DistContext
    data.train_loader, data.val_loader, data.train_transform, data.view_fn, data.preprocessing

Transforms. The stored image (S×S: 256 for ImageNet and ImageFolders, 28 for Fashion-MNIST) is
resized to ``resize`` (R: the stored size by default; ``input_size`` — the whole image — for stores
smaller than ``input_size``, or with ``whole_image``) and the net sees ``input_size`` (C) crops of
it. The recipe's augmentation:

- ``paper``: pixels in [0, 255] minus the training set's mean image (taken at the stored size),
  random C×C windows + flips (``crops_flips``; False: the centre window, unflipped) and, for RGB
  crops of the stored image itself (R = S), PCA lighting (σ = ``lighting_std``). With R = C the
  net sees the whole image and only flips apply (Fashion-MNIST resized to 64 by default); with
  S < R the crops are cut from the resized image (28 → 73 → random 64: the paper's 224-in-256).
- ``torchvision``: RandomResizedCrop + flip, [0, 1], ImageNet mean/std (the training set's own
  mean/std for small whole-image stores).
- ``flip`` / ``none``: the centre C×C window of the R×R image in [0, 1], with / without flips (d2l).

The evaluation view is always :func:`alexnet.data.views.make_view_fn` of the ``preprocessing``
saved with the weights (the centre C×C window of the R×R image), so ``alexnet evaluate`` and
``alexnet predict`` see what training saw.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..config import Config
from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..data.augment import PaperTrainTransform, RandomResizedCropTransform, ViewTrainTransform
from ..data.holdout import hold_out
from ..data.loader import StoreLoader
from ..data.open import open_data
from ..data.store import PreparedStore
from ..data.views import Preprocessing, make_view_fn, to_channels
from .distributed import DistContext, barrier


@dataclass
class TrainData:
    train_loader: StoreLoader
    val_loader: StoreLoader | None
    train_transform: Callable[..., torch.Tensor]
    view_fn: Callable[[torch.Tensor], torch.Tensor]
    preprocessing: Preprocessing
    mean_image: torch.Tensor | None
    class_names: list[str]
    num_classes: int
    channels: int
    per_rank_batch: int
    description: str
    train_store: PreparedStore
    val_store: PreparedStore | None
    test_store: PreparedStore | None = None     # with ``holdout``: the data's val split, tested once at the end

    @property
    def extra_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors saved beside the weights (``preprocess.mean_image``)."""
        return {} if self.mean_image is None else {"mean_image": self.mean_image}


def _channel_std(stats) -> list[float]:
    """Per-channel std in [0, 1] from the stored pixel covariance V·diag(λ)·Vᵀ."""
    cov = np.asarray(stats.eigvec) @ np.diag(np.asarray(stats.eigval)) @ np.asarray(stats.eigvec).T
    return [float(np.sqrt(max(v, 1e-12))) for v in np.diag(cov)]


def resize_side(cfg: Config, stored_size: int) -> int:
    """The side R the stored images are resized to before the ``input_size`` crop (module docstring)."""
    if cfg.whole_image:
        return cfg.input_size
    if cfg.resize:
        if cfg.resize < cfg.input_size:
            raise ValueError(f"resize={cfg.resize} is smaller than the input_size={cfg.input_size} crop")
        return cfg.resize
    return stored_size if stored_size >= cfg.input_size else cfg.input_size


def make_preprocessing(cfg: Config, store: PreparedStore) -> tuple[Preprocessing, torch.Tensor | None]:
    """The weights file's preprocessing and its mean image (or None)."""
    size, crop, augment = store.image_size, cfg.input_size, cfg.augment
    if not cfg.crops_flips and augment != "paper":
        raise ValueError(f"crops_flips=false switches off the paper augmentation's crops and flips; the {augment!r} "
                         f"augmentation has its own (use augment=none for plain centre crops)")
    resize = resize_side(cfg, size)
    # The net's channels decide; grey stores are repeated to RGB and RGB stores turned grey (luma)
    # by the view function, and the mean image follows the same linear map.
    c = int(cfg.model.get("in_channels", store.channels))
    stats = store.stats()
    pre = dict(stored_size=size, resize=resize, crop=crop, channels=c, pixel_scale=1.0)
    mean_image = None
    if augment == "paper":
        if stats is None:
            raise ValueError(f"the paper recipe subtracts the training set's mean image, but {store.root} has no "
                             f"stats/ (prepare its train split with `alexnet prepare`), or use --recipe d2l")
        pre.update(pixel_scale=255.0, mean_image=True)
        mean_image = to_channels(torch.from_numpy(np.ascontiguousarray(stats.mean_image)).permute(2, 0, 1).float(), c)
    elif augment == "torchvision":
        if resize != size:
            if stats is None:
                raise ValueError(f"{store.root} has no stats/ to normalise with; prepare its train split")
            if c != store.channels:
                raise ValueError(f"the net takes {c}-channel images but {store.root} has {store.channels}; "
                                 f"per-channel normalisation cannot be carried across (use augment=paper or flip)")
            mean = stats.mean_image.reshape(-1, c).mean(axis=0) / float(stats.pixel_scale)
            pre.update(mean=tuple(float(v) for v in mean), std=tuple(_channel_std(stats)))
        else:
            pre.update(mean=IMAGENET_MEAN, std=IMAGENET_STD)
    return Preprocessing(**pre), mean_image


def make_train_transform(cfg: Config, store: PreparedStore, pre: Preprocessing,
                         mean_image: torch.Tensor | None) -> tuple[Callable[..., torch.Tensor], str]:
    """The recipe's training transform (module docstring) and a few words saying what it does."""
    crop, random = cfg.input_size, cfg.crops_flips
    if pre.resize == pre.stored_size and cfg.augment == "paper":
        lighting = store.channels == 3 and cfg.lighting_std > 0
        transform = PaperTrainTransform(crop=crop, stats=store.stats(), alphastd=cfg.lighting_std, flip=random,
                                        random_crop=random, lighting=lighting, lighting_scale=cfg.lighting_scale)
        what = ("random crops + flips" if random else "centre crops") + (
            f" + PCA lighting ({cfg.lighting_scale}, σ={cfg.lighting_std:g})" if lighting else "") + " − mean image"
        return transform, what
    if pre.resize == pre.stored_size and cfg.augment == "torchvision":
        return (RandomResizedCropTransform(crop=crop, mean=IMAGENET_MEAN, std=IMAGENET_STD),
                "RandomResizedCrop + flips, ImageNet mean/std")
    random = random and cfg.augment in ("paper", "torchvision")
    flip = random or cfg.augment == "flip"
    # the whole R×R view, then a random (or the centre) crop of it, flipped or not
    whole = make_view_fn(dataclasses.replace(pre, crop=pre.resize), mean_image, views=1)
    transform = ViewTrainTransform(whole, flip=flip, crop=crop, random_crop=random)
    size = (f"{pre.stored_size}→{pre.resize} px, " if pre.resize != pre.stored_size else "")
    window = "the whole image" if crop == pre.resize else ("random" if random else "centre") + f" {crop} crops"
    return transform, f"{size}{window}{' + flips' if flip else ''}"


def open_run_data(cfg: Config, ctx: DistContext):
    """The config's data (:func:`alexnet.data.open.open_data`); one process per node prepares it.

    Preparing can take hours (ImageNet): the other ranks wait in a CPU group with a long timeout
    rather than NCCL's 10 minutes. On a shared file system, run ``alexnet prepare`` before torchrun.
    """
    return open_data(cfg.data, cfg.dataset, prepare_here=ctx.local_rank == 0,
                     wait=lambda: barrier(ctx, timeout=datetime.timedelta(hours=48)), progress=ctx.is_main)


def build_data(cfg: Config, ctx: DistContext | None = None) -> TrainData:
    """Open the data of ``cfg`` and build loaders and transforms for this rank."""
    ctx = ctx or DistContext()
    if cfg.batch_size % ctx.world_size:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {ctx.world_size} processes; "
                         f"each rank takes batch_size / world_size images per step")
    opened = open_run_data(cfg, ctx)
    train, val, test = opened.train, opened.val, None
    if cfg.holdout:     # validate on images held out of training; the data's val split becomes the test set
        test = val
        train, val = hold_out(train, cfg.holdout, cfg.holdout_seed)
    per_rank = cfg.batch_size // ctx.world_size
    pre, mean_image = make_preprocessing(cfg, train)
    view_fn = make_view_fn(pre, mean_image, views=1)
    transform, augmentation = make_train_transform(cfg, train, pre, mean_image)
    in_memory = train.image_size < 64  # small stores (Fashion-MNIST) fit in memory easily
    # The rank's own GPU (cuda:LOCAL_RANK, or --device cuda:N): a bare "cuda" would be the current
    # device, cuda:0 in a one-process run on another GPU, so decoding would land on the wrong one.
    data_device = ctx.device if ctx.device.type == "cuda" else torch.device("cpu")
    train_loader = StoreLoader(train, per_rank, shuffle=True, seed=cfg.seed, rank=ctx.rank,
                               world_size=ctx.world_size, drop_last=True, workers=cfg.workers,
                               device=data_device, in_memory=in_memory)
    val_loader = None
    if val is not None and ctx.is_main:
        val_loader = StoreLoader(val, per_rank, shuffle=False, drop_last=False, workers=cfg.workers,
                                 device=data_device, in_memory=in_memory)
    return TrainData(train_loader=train_loader, val_loader=val_loader, train_transform=transform, view_fn=view_fn,
                     preprocessing=pre, mean_image=mean_image, class_names=list(train.class_names),
                     num_classes=train.num_classes, channels=pre.channels, per_rank_batch=per_rank,
                     description=f"{opened.description}: {len(train)} train / {len(val) if val else 0} val images"
                                 + (f" (held out of the training split, seed {cfg.holdout_seed}) / "
                                    f"{len(test) if test else 0} test images (tested once, at the end)"
                                    if cfg.holdout else "") + f", augmentation: {augmentation}",
                     train_store=train, val_store=val, test_store=test)
