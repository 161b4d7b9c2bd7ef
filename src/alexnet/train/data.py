"""What a run reads: the data (:mod:`alexnet.data.open`), its loaders, and the transforms a recipe asks for.

    data = build_data(cfg, ctx)     # cfg: Config; ctx: DistContext
    data.train_loader, data.val_loader, data.train_transform, data.view_fn, data.preprocessing

Transforms. Stores of 256×256 images (ImageNet, ImageFolders) get the recipe's augmentation:
``paper`` (random crop + flip + PCA lighting, minus the mean image), ``torchvision``
(RandomResizedCrop + flip, [0, 1], ImageNet mean/std), ``flip`` or ``none`` (centre crop,
[0, 1]). Small stores (Fashion-MNIST's 28×28), or any store with ``whole_image``, are resized
whole to ``input_size`` (bilinear): ``paper`` subtracts the stored-size mean image in [0, 255]
and flips (the paper's crops and RGB lighting do not apply to 28-pixel grey images);
``torchvision`` scales to [0, 1], normalises by the training set's mean/std and flips;
``flip``/``none`` scale to [0, 1] only (as d2l). The evaluation view is always
:func:`alexnet.data.views.make_view_fn` of the ``preprocessing`` saved with the weights, so
``alexnet evaluate`` and ``alexnet predict`` see what training saw.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..config import Config
from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..data.augment import PaperTrainTransform, RandomResizedCropTransform, ViewTrainTransform
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

    @property
    def extra_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors saved beside the weights (``preprocess.mean_image``)."""
        return {} if self.mean_image is None else {"mean_image": self.mean_image}


def _channel_std(stats) -> list[float]:
    """Per-channel std in [0, 1] from the stored pixel covariance V·diag(λ)·Vᵀ."""
    cov = np.asarray(stats.eigvec) @ np.diag(np.asarray(stats.eigval)) @ np.asarray(stats.eigvec).T
    return [float(np.sqrt(max(v, 1e-12))) for v in np.diag(cov)]


def make_preprocessing(cfg: Config, store: PreparedStore) -> tuple[Preprocessing, torch.Tensor | None, str]:
    """The weights file's preprocessing, its mean image (or None), and the training augmentation kind."""
    size, crop, augment = store.image_size, cfg.input_size, cfg.augment
    # The net's channels decide; grey stores are repeated to RGB and RGB stores turned grey (luma)
    # by the view function, and the mean image follows the same linear map.
    c = int(cfg.model.get("in_channels", store.channels))
    whole = size < crop or cfg.whole_image
    stats = store.stats()
    pre = dict(stored_size=size, resize=crop if whole else size, crop=crop, channels=c, pixel_scale=1.0)
    mean_image = None
    if augment == "paper":
        if stats is None:
            raise ValueError(f"the paper recipe subtracts the training set's mean image, but {store.root} has no "
                             f"stats/ (prepare its train split with `alexnet prepare`), or use --recipe d2l")
        pre.update(pixel_scale=255.0, mean_image=True)
        mean_image = to_channels(torch.from_numpy(np.ascontiguousarray(stats.mean_image)).permute(2, 0, 1).float(), c)
    elif augment == "torchvision":
        if whole:
            if stats is None:
                raise ValueError(f"{store.root} has no stats/ to normalise with; prepare its train split")
            if c != store.channels:
                raise ValueError(f"the net takes {c}-channel images but {store.root} has {store.channels}; "
                                 f"per-channel normalisation cannot be carried across (use augment=paper or flip)")
            mean = stats.mean_image.reshape(-1, c).mean(axis=0) / float(stats.pixel_scale)
            pre.update(mean=tuple(float(v) for v in mean), std=tuple(_channel_std(stats)))
        else:
            pre.update(mean=IMAGENET_MEAN, std=IMAGENET_STD)
    if whole:
        kind = "resize+flip" if augment != "none" else "resize"
    else:
        kind = {"paper": "paper", "torchvision": "torchvision", "flip": "crop+flip", "none": "crop"}[augment]
    return Preprocessing(**pre), mean_image, kind


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
    train, val = opened.train, opened.val
    per_rank = cfg.batch_size // ctx.world_size
    pre, mean_image, kind = make_preprocessing(cfg, train)
    view_fn = make_view_fn(pre, mean_image, views=1)
    if kind == "paper":
        transform = PaperTrainTransform(crop=cfg.input_size, stats=train.stats(), alphastd=cfg.lighting_std,
                                        flip=True, lighting=train.channels == 3 and cfg.lighting_std > 0,
                                        lighting_scale=cfg.lighting_scale)
    elif kind == "torchvision":
        transform = RandomResizedCropTransform(crop=cfg.input_size, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    else:
        transform = ViewTrainTransform(view_fn, flip=kind.endswith("flip"))
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
    lighting = "" if kind != "paper" or not transform.lighting else f", PCA lighting ({cfg.lighting_scale})"
    return TrainData(train_loader=train_loader, val_loader=val_loader, train_transform=transform, view_fn=view_fn,
                     preprocessing=pre, mean_image=mean_image, class_names=list(train.class_names),
                     num_classes=train.num_classes, channels=pre.channels, per_rank_batch=per_rank,
                     description=f"{opened.description}: {len(train)} train / {len(val) if val else 0} val images, "
                                 f"augmentation {kind}{lighting}",
                     train_store=train, val_store=val)
