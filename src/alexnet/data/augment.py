"""Batched image transforms on uint8 (B, C, H, W) tensors, on any device.

The paper's recipe (SPEC §2)::

    train_tf = PaperTrainTransform(crop=224, stats=store.stats())
    x = train_tf(images_uint8, generator=g)     # float32 (B, C, 224, 224), [0,255] minus mean
    eval_tf = PaperEvalTransform(crop=224, stats=store.stats())
    x = eval_tf(images_uint8)                   # centre crop minus the mean image's centre crop
    v = eval_tf.ten_views(images_uint8)         # (10, B, C, 224, 224)

torchvision's recipe for the one-tower net: :class:`RandomResizedCropTransform`,
:class:`TorchvisionEvalTransform` (pixels scaled to [0, 1], then per-channel normalisation).

Inference on arbitrary PIL images given a weights file's ``preprocessing`` dict:
:func:`preprocess_pil`.

Every random choice comes from a ``torch.Generator`` argument (default: torch's global CPU
generator), drawn on the CPU and moved to the images' device, so the same generator seed gives
the same augmentation on any device.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .store import SPEC_IMAGENET_PCA, DatasetStats

__all__ = ["PaperTrainTransform", "PaperEvalTransform", "RandomResizedCropTransform",
           "TorchvisionEvalTransform", "SPEC_IMAGENET_PCA", "ten_views", "crop_batch",
           "preprocess_pil", "IMAGENET_STD_RGB"]

IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


def _check_offsets(offsets: torch.Tensor, crop: int, h: int, w: int) -> None:
    if offsets.numel() and (offsets.min() < 0 or offsets[:, 0].max() + crop > h
                            or offsets[:, 1].max() + crop > w):
        raise ValueError(f"crop {crop} at offsets up to {offsets.max(0).values.tolist()} leaves "
                         f"the {h}x{w} image")


def crop_batch(images: torch.Tensor, offsets: torch.Tensor, crop: int,
               flips: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image crops: ``out[b] = images[b, :, y:y+crop, x:x+crop]`` with (y, x) = offsets[b],
    mirrored left-right where ``flips[b]``. ``images`` (B, C, H, W) of any dtype; ``offsets``
    (B, 2) integer; a (1, C, H, W) ``images`` is broadcast over the B offsets (the mean image).

    On the CPU: B slice copies (cheap next to a gather). On other devices: one indexing kernel
    with broadcast (B, crop) row/column indices (no B·C·crop² index tensor is built).
    """
    offsets = offsets.to(dtype=torch.long)
    _check_offsets(offsets, crop, images.shape[2], images.shape[3])
    if images.device.type == "cpu":
        return _crop_slices(images, offsets, crop, flips)
    return _crop_indexed(images, offsets, crop, flips)


def _crop_slices(images: torch.Tensor, offsets: torch.Tensor, crop: int,
                 flips: torch.Tensor | None) -> torch.Tensor:
    """:func:`crop_batch` as B slice copies (the CPU variant; offsets already checked)."""
    n, c = offsets.shape[0], images.shape[1]
    fl = flips.tolist() if flips is not None else [False] * n
    one = images.shape[0] == 1
    views = []
    for b, (y, x) in enumerate(offsets.tolist()):
        v = images[0 if one else b, :, y:y + crop, x:x + crop]
        views.append(v.flip(-1) if fl[b] else v)
    return torch.stack(views) if views else images.new_empty((0, c, crop, crop))


def _crop_indexed(images: torch.Tensor, offsets: torch.Tensor, crop: int,
                  flips: torch.Tensor | None) -> torch.Tensor:
    """:func:`crop_batch` as one advanced-indexing kernel with broadcast (B, crop) row and column
    indices (the GPU variant; offsets already checked)."""
    n, c = offsets.shape[0], images.shape[1]
    device = images.device
    offsets = offsets.to(device)
    ar = torch.arange(crop, device=device)
    rows = (offsets[:, 0:1] + ar)[:, None, :, None]                 # (B, 1, crop, 1)
    cols_ar = ar.expand(n, crop)
    if flips is not None:
        cols_ar = torch.where(flips.to(device).view(n, 1), crop - 1 - ar, ar)
    cols = (offsets[:, 1:2] + cols_ar)[:, None, None, :]            # (B, 1, 1, crop)
    bix = (torch.zeros(n, dtype=torch.long, device=device) if images.shape[0] == 1
           else torch.arange(n, device=device))[:, None, None, None]
    cix = torch.arange(c, device=device)[None, :, None, None]
    return images[bix, cix, rows, cols]


_NUMPY_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
                 torch.float32, torch.float64)


def _mean_chw(stats: DatasetStats, device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(stats.mean_image), dtype=torch.float32,
                           device=device).permute(2, 0, 1).contiguous()


def _generator_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


class PaperTrainTransform:
    """The paper's training augmentation, batched (SPEC §2).

    For each image: a random ``crop``×``crop`` window of the stored 256×256 image, mirrored
    left-right with probability ½ (``flip``); PCA lighting (``lighting``): add
    ``pixel_scale · Σ_i α_i λ_i p_i`` to every pixel, α_i ~ N(0, ``alphastd``) drawn per image
    (λ, p from ``stats``, [0, 1] scale, see :class:`DatasetStats`); minus the mean image cropped
    at the same offset and mirrored with it. Output float32 (B, C, crop, crop) in the [0, 255]
    scale minus the mean. Pixels are not clipped after the lighting shift (the paper says
    nothing of clipping).

    ``sample`` draws the parameters and ``apply`` uses them, so tests and callers can fix them.
    """

    def __init__(self, crop: int = 224, stats: DatasetStats | None = None, alphastd: float = 0.1,
                 flip: bool = True, lighting: bool = True):
        if stats is None:
            raise ValueError("PaperTrainTransform needs stats= (store.stats(), or "
                             "DatasetStats.fallback() when the train split's statistics are missing)")
        self.crop, self.stats, self.alphastd = crop, stats, alphastd
        self.flip, self.lighting = flip, lighting
        self._mean: dict[torch.device, torch.Tensor] = {}
        self._mean_flipped: dict[torch.device, torch.Tensor] = {}
        self._eig: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def mean(self, device) -> torch.Tensor:
        device = torch.device(device)
        if device not in self._mean:
            self._mean[device] = _mean_chw(self.stats, device)
        return self._mean[device]

    def sample(self, batch: int, height: int, width: int,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Draw per-image parameters: ``offsets`` (B, 2) long (y, x), ``flips`` (B,) bool,
        ``alphas`` (B, C) float32 (zeros when lighting is off)."""
        if height < self.crop or width < self.crop:
            raise ValueError(f"images {height}x{width} are smaller than the {self.crop} crop")
        gdev = _generator_device(generator)
        oy = torch.randint(0, height - self.crop + 1, (batch,), generator=generator, device=gdev)
        ox = torch.randint(0, width - self.crop + 1, (batch,), generator=generator, device=gdev)
        flips = (torch.rand(batch, generator=generator, device=gdev) < 0.5) if self.flip \
            else torch.zeros(batch, dtype=torch.bool, device=gdev)
        c = len(self.stats.eigval)
        alphas = torch.randn(batch, c, generator=generator, device=gdev) * self.alphastd if self.lighting \
            else torch.zeros(batch, c, device=gdev)
        return {"offsets": torch.stack([oy, ox], 1), "flips": flips, "alphas": alphas.float()}

    def lighting_shift(self, alphas: torch.Tensor) -> torch.Tensor:
        """(B, C) per-image RGB shift in [0, 255] units: ``pixel_scale · Σ_i α_i λ_i p_i``."""
        device = alphas.device
        if device not in self._eig:
            self._eig[device] = (torch.as_tensor(self.stats.eigval, dtype=torch.float32, device=device),
                                 torch.as_tensor(self.stats.eigvec, dtype=torch.float32, device=device))
        eigval, eigvec = self._eig[device]
        return (alphas.float() * eigval) @ eigvec.T * float(self.stats.pixel_scale)

    def mean_flipped(self, device) -> torch.Tensor:
        """The mean image mirrored left-right (cached): the flipped crop at x is a plain slice."""
        device = torch.device(device)
        if device not in self._mean_flipped:
            self._mean_flipped[device] = self.mean(device).flip(-1).contiguous()
        return self._mean_flipped[device]

    def apply(self, images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor,
              alphas: torch.Tensor) -> torch.Tensor:
        """``float(crop(images)) − crop(mean) + shift``, each crop at ``offsets`` and mirrored where
        ``flips``. CPU: one pass per image over cache-sized slices (single-threaded numpy, so it
        does not fight the decoding threads for cores); other devices: batched kernels."""
        if images.device.type == "cpu" and images.dtype in _NUMPY_DTYPES and not images.requires_grad:
            return self._apply_cpu(images, offsets, flips, alphas)
        return self._apply_batched(images, offsets, flips, alphas)

    def _apply_batched(self, images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor,
                       alphas: torch.Tensor) -> torch.Tensor:
        device = images.device
        x = crop_batch(images, offsets, self.crop, flips)
        mean = crop_batch(self.mean(device)[None], offsets, self.crop, flips)
        shift = self.lighting_shift(alphas.to(device))
        return torch.sub(x, mean).add_(shift[:, :, None, None])

    def _apply_cpu(self, images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor,
                   alphas: torch.Tensor) -> torch.Tensor:
        n = offsets.shape[0]
        _, c, h, w = images.shape
        k = self.crop
        offsets = offsets.to(dtype=torch.long)
        one = images.shape[0] == 1                  # one image broadcast over the offsets
        if not one and images.shape[0] != n:
            raise ValueError(f"{images.shape[0]} images but {n} offsets")
        mean, mean_f = self.mean("cpu").numpy(), self.mean_flipped("cpu").numpy()
        _check_offsets(offsets, k, h, w)
        _check_offsets(offsets, k, mean.shape[1], mean.shape[2])
        shift = self.lighting_shift(alphas.to("cpu")).numpy()[:, :, None, None]
        out = torch.empty((n, c, k, k), dtype=torch.float32)
        o, x = out.numpy(), images.numpy()
        mw = mean.shape[-1]
        # same arithmetic, in the same order, as float(x) - mean + shift on whole tensors
        for b, ((y0, x0), f) in enumerate(zip(offsets.tolist(), flips.tolist())):
            xb = x[0 if one else b]
            if f:
                np.copyto(o[b], xb[:, y0:y0 + k, x0:x0 + k][:, :, ::-1], casting="unsafe")
                np.subtract(o[b], mean_f[:, y0:y0 + k, mw - x0 - k:mw - x0], out=o[b])
            else:
                np.copyto(o[b], xb[:, y0:y0 + k, x0:x0 + k], casting="unsafe")
                np.subtract(o[b], mean[:, y0:y0 + k, x0:x0 + k], out=o[b])
            np.add(o[b], shift[b], out=o[b])
        return out

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        b, _, h, w = images.shape
        return self.apply(images, **self.sample(b, h, w, generator))


def _centre_offset(size: int, crop: int) -> int:
    return (size - crop) // 2


def ten_views(images: torch.Tensor, crop: int) -> torch.Tensor:
    """The paper's 10 test views of (B, C, H, W) images → (10, B, C, crop, crop), same dtype.

    Order: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right, 4 centre; 5–9 the same five
    crops mirrored left-right (view 5+k is view k flipped). Apply it to ``mean_image[None]`` for
    the matching mean-image views.
    """
    _, _, h, w = images.shape
    cy, cx = _centre_offset(h, crop), _centre_offset(w, crop)
    corners = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop), (cy, cx)]
    five = [images[:, :, y:y + crop, x:x + crop] for y, x in corners]
    return torch.stack(five + [v.flip(-1) for v in five])


class PaperEvalTransform:
    """The paper's test preprocessing: centre ``crop`` minus the mean image's centre crop
    (``__call__``, float32 (B, C, crop, crop)), or the 10 views (``ten_views``)."""

    def __init__(self, crop: int = 224, stats: DatasetStats | None = None):
        if stats is None:
            raise ValueError("PaperEvalTransform needs stats= (store.stats() or DatasetStats.fallback())")
        self.crop, self.stats = crop, stats
        self._mean: dict[torch.device, torch.Tensor] = {}

    def mean(self, device) -> torch.Tensor:
        device = torch.device(device)
        if device not in self._mean:
            self._mean[device] = _mean_chw(self.stats, device)
        return self._mean[device]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _, _, h, w = images.shape
        y, x = _centre_offset(h, self.crop), _centre_offset(w, self.crop)
        mean = self.mean(images.device)
        return (images[:, :, y:y + self.crop, x:x + self.crop].float()
                - mean[None, :, y:y + self.crop, x:x + self.crop])

    def ten_views(self, images: torch.Tensor) -> torch.Tensor:
        """(10, B, C, crop, crop) float32: :func:`ten_views` of the images minus those of the mean."""
        return ten_views(images, self.crop).float() - ten_views(self.mean(images.device)[None], self.crop)


def _normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)


class RandomResizedCropTransform:
    """torchvision's RandomResizedCrop + flip + [0, 1] + normalise, batched (one-tower recipe).

    Per image a box of area fraction in ``scale`` and aspect ratio in ``ratio`` (log-uniform) is
    drawn as torchvision does (10 tries, then a centre fallback) and resampled to
    ``crop``×``crop`` with ``torchvision.ops.roi_align`` (bilinear, averaging when shrinking).
    Output float32 (B, C, crop, crop).
    """

    def __init__(self, crop: int = 224, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                 mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), flip: bool = True):
        self.crop, self.scale, self.ratio = crop, tuple(scale), tuple(ratio)
        self.mean, self.std, self.flip = tuple(mean), tuple(std), flip

    def sample(self, batch: int, height: int, width: int,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``boxes`` (B, 4) float (x1, y1, x2, y2) in pixel-edge coordinates; ``flips`` (B,) bool."""
        gdev, tries = _generator_device(generator), 10
        area = float(height * width)
        target = area * torch.empty(batch, tries, device=gdev).uniform_(*self.scale, generator=generator)
        log_r = torch.empty(batch, tries, device=gdev).uniform_(
            math.log(self.ratio[0]), math.log(self.ratio[1]), generator=generator)
        aspect = torch.exp(log_r)
        w = torch.round(torch.sqrt(target * aspect))
        h = torch.round(torch.sqrt(target / aspect))
        ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        first = torch.argmax(ok.int(), dim=1)                     # first valid try
        any_ok = ok.any(dim=1)
        w = w.gather(1, first[:, None]).squeeze(1)
        h = h.gather(1, first[:, None]).squeeze(1)
        in_ratio = width / height                                  # torchvision's fallback
        if in_ratio < min(self.ratio):
            fw, fh = width, round(width / min(self.ratio))
        elif in_ratio > max(self.ratio):
            fh, fw = height, round(height * max(self.ratio))
        else:
            fw, fh = width, height
        w = torch.where(any_ok, w, torch.full_like(w, fw))
        h = torch.where(any_ok, h, torch.full_like(h, fh))
        u = torch.rand(batch, 2, device=gdev, generator=generator)
        y = torch.where(any_ok, torch.floor(u[:, 0] * (height - h + 1)), torch.floor((height - h) / 2))
        x = torch.where(any_ok, torch.floor(u[:, 1] * (width - w + 1)), torch.floor((width - w) / 2))
        flips = (torch.rand(batch, generator=generator, device=gdev) < 0.5) if self.flip \
            else torch.zeros(batch, dtype=torch.bool, device=gdev)
        return {"boxes": torch.stack([x, y, x + w, y + h], 1), "flips": flips}

    def apply(self, images: torch.Tensor, boxes: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        from torchvision.ops import roi_align
        b = images.shape[0]
        device = images.device
        rois = torch.cat([torch.arange(b, device=device, dtype=torch.float32)[:, None],
                          boxes.to(device, torch.float32)], 1)
        x = roi_align(images.float(), rois, output_size=(self.crop, self.crop), spatial_scale=1.0,
                      sampling_ratio=-1, aligned=True)
        x = torch.where(flips.to(device).view(b, 1, 1, 1), x.flip(-1), x)
        return _normalize(x.div_(255.0), self.mean, self.std)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        b, _, h, w = images.shape
        return self.apply(images, **self.sample(b, h, w, generator))


class TorchvisionEvalTransform:
    """torchvision's eval recipe, batched: shorter side to ``resize`` (bilinear, antialiased; a
    no-op on a store's 256×256 images), centre ``crop``, [0, 1], normalise. float32 out."""

    def __init__(self, resize: int = 256, crop: int = 224, mean=(0.485, 0.456, 0.406),
                 std=(0.229, 0.224, 0.225)):
        self.resize, self.crop, self.mean, self.std = resize, crop, tuple(mean), tuple(std)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        _, _, h, w = x.shape
        if min(h, w) != self.resize:
            nh, nw = (self.resize, round(w * self.resize / h)) if h <= w else (round(h * self.resize / w), self.resize)
            x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
            h, w = nh, nw
        y, xo = _centre_offset(h, self.crop), _centre_offset(w, self.crop)
        x = x[:, :, y:y + self.crop, xo:xo + self.crop]
        return _normalize(x.div(255.0), self.mean, self.std)


def preprocess_pil(images: list, preprocessing: dict, mean_image: torch.Tensor | None = None,
                   views: int = 1) -> torch.Tensor:
    """Arbitrary PIL images → the tensor a trained net expects, as its weights file says.

    ``preprocessing`` is the weights' dict (see :mod:`alexnet.weights`): ``resize``, ``crop``,
    ``channels``, ``pixel_scale``, ``mean``/``std`` (per channel in ``pixel_scale`` units, or
    null), ``mean_image`` (bool). Each image is EXIF-rotated, converted to RGB (or grey when
    ``channels`` is 1) and resized so its shorter side is ``resize``; with the paper's
    preprocessing (``square_crop``, which defaults to ``mean_image``) its central
    ``resize``×``resize`` square is kept, as ``alexnet prepare`` does. Then the centre ``crop``
    (``views=1`` → (B, C, crop, crop)) or the 10 views (``views=10`` → (10, B, C, crop, crop),
    order of :func:`ten_views`); pixels divided by 255 when ``pixel_scale`` is 1; the
    ``mean_image`` (C, resize, resize) tensor, in ``pixel_scale`` units, cropped at the same
    place subtracted; then ``(x - mean) / std``. A ``mean_image`` (C, S, S) with S ≠ ``resize``
    is the mean at the stored size of the training data, which the net saw resized whole
    (Fashion-MNIST's 28 px upsampled, or 256 px downsampled for a small fine-tuned net): then, as
    in training and :func:`alexnet.evaluate.view_fn_from_preprocessing`, the image's central
    square goes to S×S, the mean is subtracted there, and the result is resized to ``resize``.
    """
    from PIL import Image, ImageOps

    if views not in (1, 10):
        raise ValueError(f"views must be 1 or 10, not {views}")
    resize = int(preprocessing.get("resize", 256))
    crop = int(preprocessing.get("crop", 224))
    channels = int(preprocessing.get("channels", 3))
    pixel_scale = float(preprocessing.get("pixel_scale", 255.0))
    square = bool(preprocessing.get("square_crop", preprocessing.get("mean_image", False)))
    mean, std = preprocessing.get("mean"), preprocessing.get("std")
    if crop > resize:
        raise ValueError(f"preprocessing crop {crop} is larger than resize {resize}")
    # A mean image whose side S differs from ``resize`` is at the stored size of the training
    # data, and the net saw stored images resized whole (Fashion-MNIST: 28 px upsampled; a
    # fine-tuned small net: 256 px downsampled): as in training, the image is brought to S×S,
    # the mean subtracted there, and the difference resized (bilinear, like the trainer's view).
    m = None if mean_image is None else mean_image.detach().to("cpu", torch.float32)
    stored = m.shape[-1] if m is not None and m.shape[-1] != resize else None
    out = []
    for img in images:
        img = ImageOps.exif_transpose(img).convert("L" if channels == 1 else "RGB")
        w, h = img.size
        side = stored or resize
        if square or stored:
            s = min(w, h)
            left, top = (w - s) // 2, (h - s) // 2
            img = img.resize((side, side), Image.Resampling.BILINEAR, box=(left, top, left + s, top + s))
        else:
            size = (resize, max(resize, round(h * resize / w))) if w <= h else (max(resize, round(w * resize / h)), resize)
            img = img.resize(size, Image.Resampling.BILINEAR)
        arr = np.asarray(img).reshape(img.size[1], img.size[0], channels)
        t = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None]        # (1, C, H, W)
        if stored:
            x = t.float() * (pixel_scale / 255.0) - m[None]
            x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False,
                              antialias=resize < stored)
            if views == 10:
                x = ten_views(x, crop)[:, 0]
            else:
                o = _centre_offset(resize, crop)
                x = x[0, :, o:o + crop, o:o + crop]
        else:
            if views == 10:
                x = ten_views(t, crop)[:, 0].float()                    # (10, C, crop, crop)
            else:
                hh, ww = t.shape[-2:]
                y0, x0 = _centre_offset(hh, crop), _centre_offset(ww, crop)
                x = t[0, :, y0:y0 + crop, x0:x0 + crop].float()
            if pixel_scale == 1.0:
                x = x / 255.0
            if m is not None:
                mi = m
                if mi.shape[-2:] != t.shape[-2:]:                       # not square: mean's centre
                    my, mx = _centre_offset(mi.shape[-2], t.shape[-2]), _centre_offset(mi.shape[-1], t.shape[-1])
                    if my < 0 or mx < 0:
                        raise ValueError(f"mean image {tuple(mi.shape)} does not fit the resized image "
                                         f"{tuple(t.shape[-2:])}")
                    mi = mi[:, my:my + t.shape[-2], mx:mx + t.shape[-1]]
                if views == 10:
                    mv = ten_views(mi[None], crop)[:, 0]
                else:
                    y0, x0 = _centre_offset(mi.shape[-2], crop), _centre_offset(mi.shape[-1], crop)
                    mv = mi[:, y0:y0 + crop, x0:x0 + crop]
                x = x - mv
        if mean is not None and std is not None:
            shape = (1, -1, 1, 1) if views == 10 else (-1, 1, 1)
            x = (x - torch.as_tensor(mean, dtype=torch.float32).view(shape)) / \
                torch.as_tensor(std, dtype=torch.float32).view(shape)
        elif mean is not None:
            x = x - torch.as_tensor(mean, dtype=torch.float32).view((1, -1, 1, 1) if views == 10 else (-1, 1, 1))
        out.append(x)
    return torch.stack(out, dim=1 if views == 10 else 0)
