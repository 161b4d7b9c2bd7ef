"""The one interpreter of a weights file's ``preprocessing``: stored images → the views a net sees.

Training (its evaluation view), ``alexnet evaluate``, ``predict``, ``features``, ``visualize`` and
``export`` all read the description through :class:`Preprocessing` and turn images into input
through :func:`make_view_fn`. An arbitrary picture (PIL) first becomes a *stored-like* uint8
image with :func:`pil_to_stored` (what ``alexnet prepare`` would have stored for it), then goes
through the same view function as a prepared store's images.

    pre = Preprocessing.from_dict(meta.preprocessing, mean_image=meta.mean_image)
    view = make_view_fn(pre, meta.mean_image, views=10)
    x = view(stored_uint8_batch)             # (10, B, C, crop, crop) float32
    x = view(pil_to_stored([img], pre))       # the same for a photograph

The description (a dict in the weights file; every default lives in :meth:`Preprocessing.from_dict`):

- ``stored_size`` S: side of the stored square the views are cut from (256 for ImageNet stores,
  28 for Fashion-MNIST);
- ``resize``: side the stored image is resized to before cropping (= S, except for small stored
  images a net sees whole and larger, such as Fashion-MNIST's 28 px upsampled to 64 or 224);
- ``crop``: side of the square the net takes; views are the centre crop or the paper's 10;
- ``channels``: 1 or 3 (a grey store feeds an RGB net by repetition, an RGB store a grey net by
  ITU-R 601 luma);
- ``pixel_scale``: 255 keeps pixels in [0, 255] (the paper); 1 divides them by 255 (torchvision);
- ``mean_image``: true when the per-pixel training mean (C, S, S), in ``pixel_scale`` units, is
  stored beside the weights (``preprocess.mean_image``) and subtracted at the stored size, so
  every view sees the mean at its own offset (the paper's "mean activity");
- ``mean`` / ``std``: per-channel values (``pixel_scale`` units) subtracted / divided after that;
- ``channel_order``: "RGB" (default) or "BGR" (Caffe's nets): the order of the channels the net
  takes; ``mean_image``, ``mean`` and ``std`` are in that order too;
- ``source_resize``: how a picture of any shape becomes stored-like. ``"square"`` (the paper,
  ``alexnet prepare``): its central square resized to S×S. ``"shorter-side"`` (torchvision's
  ``Resize(256)``): the shorter side resized to S (aspect kept, torchvision's size rounding), then
  the central S×S square (torchvision's ``CenterCrop`` rounding). ``"squash"`` (Caffe's
  ``convert_imageset --resize_height 256 --resize_width 256`` and its Python classifier): the
  whole picture resized to S×S, aspect not kept. All resize with Pillow's bilinear filter
  (antialiased when shrinking), as prepare and torchvision do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..constants import LUMA
from .process import central_square

ViewFn = Callable[[Tensor], Tensor]
VIEWS = (1, 10)
SourceResize = Literal["square", "shorter-side", "squash"]
SOURCE_RESIZES = ("square", "shorter-side", "squash")
ChannelOrder = Literal["RGB", "BGR"]


@dataclass(frozen=True)
class Preprocessing:
    """A parsed ``preprocessing`` description (see the module docstring)."""

    stored_size: int
    resize: int
    crop: int
    channels: int
    pixel_scale: float = 255.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    mean_image: bool = False
    source_resize: SourceResize = "square"
    channel_order: ChannelOrder = "RGB"

    def __post_init__(self):
        if self.crop > self.resize:
            raise ValueError(f"preprocessing crops {self.crop}×{self.crop} out of a {self.resize}×{self.resize} image")
        if self.channels not in (1, 3):
            raise ValueError(f"preprocessing channels must be 1 or 3, got {self.channels}")
        if self.pixel_scale not in (1.0, 255.0):
            raise ValueError(f"pixel_scale must be 255 (pixels in [0, 255]) or 1 ([0, 1]), got {self.pixel_scale}")
        if self.source_resize not in SOURCE_RESIZES:
            raise ValueError(f"source_resize must be one of {SOURCE_RESIZES}, got {self.source_resize!r}")
        if self.channel_order not in ("RGB", "BGR") or (self.channel_order == "BGR" and self.channels != 3):
            raise ValueError(f"channel_order must be 'RGB' or, for 3 channels, 'BGR'; got {self.channel_order!r} "
                             f"with {self.channels} channels")
        for name in ("mean", "std"):
            v = getattr(self, name)
            if v is not None and len(v) != self.channels:
                raise ValueError(f"preprocessing {name} has {len(v)} values for {self.channels} channels")

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, mean_image: Tensor | None = None, crop: int | None = None,
                  channels: int | None = None, stored_size: int | None = None) -> "Preprocessing":
        """Parse a weights file's dict. Older files may omit ``stored_size`` (then the mean image's
        side, else the ``stored_size`` argument: the data at hand, else ``resize``, else ``crop``),
        ``resize`` (then the stored size), ``crop``/``channels`` (then the net's own
        ``crop``/``channels``), ``source_resize`` ("square")."""
        crop = d.get("crop") or crop
        if not crop:
            raise ValueError("preprocessing has no 'crop': the weights file does not say what input size the net takes")
        stored = int(d.get("stored_size") or (mean_image.shape[-1] if mean_image is not None else None)
                     or stored_size or d.get("resize") or crop)
        resize = int(d.get("resize") or stored)
        mean, std = d.get("mean"), d.get("std")
        return cls(stored_size=int(stored), resize=resize, crop=int(crop),
                   channels=int(d.get("channels") or channels or 3),
                   pixel_scale=float(d.get("pixel_scale", 255.0)),
                   mean=None if mean is None else tuple(float(v) for v in mean),
                   std=None if std is None else tuple(float(v) for v in std),
                   mean_image=bool(d.get("mean_image", mean_image is not None)),
                   source_resize=d.get("source_resize", "square"),
                   channel_order=d.get("channel_order", "RGB"))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("mean", "std"):
            if d[name] is not None:
                d[name] = list(d[name])
        return d


def centre_crop(images: Tensor, crop: int) -> Tensor:
    """The centre ``crop``×``crop`` window of (..., H, W) at offset ``(size − crop) // 2``, no copy."""
    y, x = (images.shape[-2] - crop) // 2, (images.shape[-1] - crop) // 2
    return images[..., y:y + crop, x:x + crop]


def ten_views(images: Tensor, crop: int) -> Tensor:
    """The paper's 10 test views of (B, C, H, W) images → (10, B, C, crop, crop), same dtype.

    Order: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right, 4 centre; 5–9 the same five
    crops mirrored left-right (view 5+k is view k flipped).
    """
    _, _, h, w = images.shape
    cy, cx = (h - crop) // 2, (w - crop) // 2
    corners = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop), (cy, cx)]
    five = [images[:, :, y:y + crop, x:x + crop] for y, x in corners]
    return torch.stack(five + [v.flip(-1) for v in five])


def to_channels(x: Tensor, channels: int) -> Tensor:
    """(B, C, H, W) or (C, H, W) images or mean images in ``channels`` channels: grey → RGB
    repeats, RGB → grey is ITU-R 601 luma (a linear map, so it commutes with mean subtraction)."""
    have = x.shape[-3]
    if have == channels:
        return x
    if have == 1 and channels == 3:
        return x.expand(*x.shape[:-3], 3, *x.shape[-2:])
    if have == 3 and channels == 1:
        luma = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(3, 1, 1)
        return (x * luma).sum(dim=-3, keepdim=True)
    raise ValueError(f"cannot turn {have}-channel images into {channels}-channel ones")


def make_view_fn(pre: Preprocessing, mean_image: Tensor | None = None, views: int = 1) -> ViewFn:
    """The view function of ``pre``: stored uint8 (B, C, S, S) → float32 (V, B, channels, crop, crop).

    In order: to float (divided by 255 when ``pixel_scale`` is 1), to the net's channels (and
    their order: BGR reverses them), minus
    the mean image (C, S, S) when ``pre.mean_image``, resized to ``resize`` when it differs from S
    (bilinear, antialiased when shrinking), minus ``mean`` and divided by ``std``, then the centre
    crop (``views=1``) or the paper's 10 views (``views=10``).
    """
    if views not in VIEWS:
        raise ValueError(f"views must be 1 (centre crop) or 10 (the paper's 10-view test), got {views}")
    if pre.mean_image:
        if mean_image is None:
            raise ValueError("the preprocessing subtracts a mean image but none was given (the weights file "
                             "holds no preprocess.mean_image tensor)")
        if tuple(mean_image.shape) != (pre.channels, pre.stored_size, pre.stored_size):
            raise ValueError(f"mean image is {tuple(mean_image.shape)}, the preprocessing needs "
                             f"({pre.channels}, {pre.stored_size}, {pre.stored_size}): the paper's mean image is "
                             f"taken over the stored (uncropped) training images")
    else:
        mean_image = None
    cache: dict[torch.device, tuple[Tensor | None, Tensor | None, Tensor | None]] = {}

    def constants(device: torch.device):
        if device not in cache:
            m_img = None if mean_image is None else mean_image.to(device, torch.float32)
            m = None if pre.mean is None else torch.tensor(pre.mean, device=device).view(-1, 1, 1)
            s = None if pre.std is None else torch.tensor(pre.std, device=device).view(-1, 1, 1)
            cache[device] = (m_img, m, s)
        return cache[device]

    def to_views(images: Tensor) -> Tensor:
        if images.ndim != 4:
            raise ValueError(f"a view function takes a (B, C, H, W) batch, got shape {tuple(images.shape)}")
        if images.shape[-2:] != (pre.stored_size, pre.stored_size):
            raise ValueError(f"expected stored images of {pre.stored_size}×{pre.stored_size}, got "
                             f"{images.shape[-2]}×{images.shape[-1]}")
        m_img, m, s = constants(images.device)
        x = images.float()
        if pre.pixel_scale == 1.0:
            x = x / 255.0
        x = to_channels(x, pre.channels)
        if pre.channel_order == "BGR":
            x = x.flip(-3)
        if m_img is not None:
            x = x - m_img
        if pre.resize != pre.stored_size:
            x = F.interpolate(x, size=(pre.resize, pre.resize), mode="bilinear", align_corners=False,
                              antialias=pre.resize < pre.stored_size)
        if m is not None:
            x = x - m
        if s is not None:
            x = x / s
        return ten_views(x, pre.crop) if views == 10 else centre_crop(x, pre.crop).unsqueeze(0)

    # the paper's 10 views of an image the net sees whole (crop = the resized side) are five copies of
    # the image and five of its mirror: views 0 and 5 are the distinct ones (alexnet.evaluate.run)
    whole = views == 10 and pre.crop == pre.resize
    return ViewFunction(to_views, slice(None, None, 5) if whole else slice(None))


@dataclass(frozen=True)
class ViewFunction:
    """A view function (stored uint8 (B, C, S, S) → (V, B, C, crop, crop)) that also says which of
    its V views are distinct: ``distinct`` slices them out of the V (all of them unless the views
    repeat, as the 10 views of an image seen whole do), so an average over the views may run over
    the distinct ones only."""

    fn: Callable[[Tensor], Tensor]
    distinct: slice = field(default_factory=lambda: slice(None))

    def __call__(self, images: Tensor) -> Tensor:
        return self.fn(images)


def _shorter_side_size(w: int, h: int, side: int) -> tuple[int, int]:
    """torchvision's ``Resize(side)`` output size (width, height): the shorter side becomes
    ``side``, the longer one ``int(side · long / short)``."""
    if w <= h:
        return side, int(side * h / w)
    return int(side * w / h), side


def pil_to_stored(images, pre: Preprocessing) -> Tensor:
    """PIL images (already upright, in "L" or "RGB") → uint8 (B, C, S, S), as a store holds them.

    ``source_resize="square"``: the central square resized to S×S (exactly :mod:`alexnet.data.process`'s
    step, without the JPEG round trip). ``"shorter-side"``: torchvision's resize of the shorter
    side to S, then its centre crop to S×S (top = round((H − S) / 2)). ``"squash"``: the whole
    picture resized to S×S (Caffe's).
    """
    out = []
    mode = "L" if pre.channels == 1 else "RGB"
    for img in images:
        if img.mode != mode:
            img = img.convert(mode)
        s = pre.stored_size
        if pre.source_resize == "square":
            img = central_square(img, s)
        elif pre.source_resize == "squash":
            if img.size != (s, s):
                from PIL import Image
                img = img.resize((s, s), Image.Resampling.BILINEAR)
        else:
            size = _shorter_side_size(*img.size, s)
            if size != img.size:
                from PIL import Image
                img = img.resize(size, Image.Resampling.BILINEAR)
            w, h = img.size
            top, left = int(round((h - s) / 2.0)), int(round((w - s) / 2.0))
            img = img.crop((left, top, left + s, top + s))
        arr = np.asarray(img).reshape(img.size[1], img.size[0], pre.channels)
        out.append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
    return torch.stack(out)
