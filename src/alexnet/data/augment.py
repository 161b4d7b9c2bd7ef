"""Batched training transforms on uint8 (B, C, H, W) tensors, on any device.

The paper's recipe (SPEC §2)::

    train_tf = PaperTrainTransform(crop=224, stats=store.stats())
    x = train_tf(images_uint8, generator=g)     # float32 (B, C, 224, 224), [0,255] minus mean

torchvision's recipe for the one-tower net: :class:`RandomResizedCropTransform`. A view plus
random flips (small stores seen whole, d2l's recipe): :class:`ViewTrainTransform`. Test-time
views and the reading of a weights file's preprocessing live in :mod:`alexnet.data.views`.

Every random choice comes from a ``torch.Generator`` argument (default: torch's global CPU
generator), drawn on the CPU and moved to the images' device, so the same generator seed gives
the same augmentation on any device.

PCA lighting (the statistics, the three readings of λ, the shift): :mod:`alexnet.data.lighting`.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..constants import IMAGENET_MEAN, IMAGENET_STD
from .lighting import LIGHTING_SCALES, DatasetStats, LightingScale, lighting_magnitudes, lighting_shift

__all__ = ["PaperTrainTransform", "RandomResizedCropTransform", "ViewTrainTransform", "crop_batch",
           "LIGHTING_SCALES"]

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


def random_offsets(batch: int, height: int, width: int, crop: int, generator: torch.Generator | None,
                   random: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, x) offsets (B,) of ``crop``×``crop`` windows in ``height``×``width`` images: uniform over
    every position when ``random``, else the centre window at ``(size − crop) // 2``, as the test
    view takes it (nothing is drawn from the generator then)."""
    gdev = _generator_device(generator)
    if not random:
        return (torch.full((batch,), (height - crop) // 2, dtype=torch.long, device=gdev),
                torch.full((batch,), (width - crop) // 2, dtype=torch.long, device=gdev))
    return (torch.randint(0, height - crop + 1, (batch,), generator=generator, device=gdev),
            torch.randint(0, width - crop + 1, (batch,), generator=generator, device=gdev))


class PaperTrainTransform:
    """The paper's training augmentation, batched (SPEC §2).

    For each image: a random ``crop``×``crop`` window of the stored 256×256 image (the centre
    window when ``random_crop`` is False), mirrored left-right with probability ½ (``flip``); PCA lighting (``lighting``): an RGB shift drawn per
    image with α_i ~ N(0, ``alphastd``), in the ``lighting_scale`` reading (module docstring;
    λ, p from ``stats``); minus the mean image cropped at the same offset and mirrored with it;
    for ``"cuda-convnet2"`` the result times 1 / (1 + ``alphastd``). Output float32
    (B, C, crop, crop) in the [0, 255] scale minus the mean. Pixels are not clipped after the
    lighting shift (the paper says nothing of clipping; cuda-convnet2 does not clip).

    ``sample`` draws the parameters and ``apply`` uses them, so tests and callers can fix them.
    """

    def __init__(self, crop: int = 224, stats: DatasetStats | None = None, alphastd: float = 0.1,
                 flip: bool = True, lighting: bool = True, lighting_scale: LightingScale = "cuda-convnet2",
                 random_crop: bool = True):
        if stats is None:
            raise ValueError("PaperTrainTransform needs stats= (store.stats(): the train split's mean image and "
                             "PCA, which `alexnet prepare` computes)")
        if lighting_scale not in LIGHTING_SCALES:
            raise ValueError(f"lighting_scale must be one of {LIGHTING_SCALES}, got {lighting_scale!r}")
        self.crop, self.stats, self.alphastd = crop, stats, alphastd
        self.flip, self.lighting, self.lighting_scale = flip, lighting, lighting_scale
        self.random_crop = random_crop
        # cuda-convnet2 scales the noisy training batch back by 1 / (1 + σ) (only when it adds noise).
        self.rescale = 1.0 / (1.0 + alphastd) if lighting and lighting_scale == "cuda-convnet2" else 1.0
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
        oy, ox = random_offsets(batch, height, width, self.crop, generator, self.random_crop)
        flips = (torch.rand(batch, generator=generator, device=gdev) < 0.5) if self.flip \
            else torch.zeros(batch, dtype=torch.bool, device=gdev)
        c = len(self.stats.eigval)
        alphas = torch.randn(batch, c, generator=generator, device=gdev) * self.alphastd if self.lighting \
            else torch.zeros(batch, c, device=gdev)
        return {"offsets": torch.stack([oy, ox], 1), "flips": flips, "alphas": alphas.float()}

    def magnitudes(self) -> np.ndarray:
        """(C,) what each α_i multiplies, in [0, 255] units: 255·λ_i ("eigenvalue") or the standard
        deviation 255·√λ_i along p_i ("stddev", "cuda-convnet2"), λ the eigenvalues of [0, 1] pixels."""
        return lighting_magnitudes(self.stats, self.lighting_scale)

    def lighting_shift(self, alphas: torch.Tensor) -> torch.Tensor:
        """(B, C) per-image RGB shift in [0, 255] units: ``Σ_i α_i m_i p_i`` (m: :meth:`magnitudes`)."""
        device = alphas.device
        if device not in self._eig:
            self._eig[device] = (torch.as_tensor(self.magnitudes(), dtype=torch.float32, device=device),
                                 torch.as_tensor(self.stats.eigvec, dtype=torch.float32, device=device))
        return lighting_shift(alphas, *self._eig[device])

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
        out = torch.sub(x, mean).add_(shift[:, :, None, None])
        return out.mul_(self.rescale) if self.rescale != 1.0 else out

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
            if self.rescale != 1.0:
                np.multiply(o[b], np.float32(self.rescale), out=o[b])
        return out

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        b, _, h, w = images.shape
        return self.apply(images, **self.sample(b, h, w, generator))


class ViewTrainTransform:
    """Training input from a view of the stored images (:func:`alexnet.data.views.make_view_fn`:
    the centre crop, or a small stored image resized whole), then, when ``crop`` is given and
    smaller than the view, a random ``crop``×``crop`` window of it (``random_crop``; else its
    centre), mirrored left-right with probability ½ per image when ``flip``. So a 28-pixel image
    resized to 73 gives the paper's random 64-in-73 crops (224-in-256). Random numbers are drawn
    on the generator's device (the CPU by default) as the other transforms do."""

    def __init__(self, view_fn: Callable[[torch.Tensor], torch.Tensor], flip: bool, crop: int | None = None,
                 random_crop: bool = True):
        self.view_fn, self.flip, self.crop, self.random_crop = view_fn, flip, crop, random_crop

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = self.view_fn(images)[0]
        b, _, h, w = x.shape
        gdev = _generator_device(generator)
        crop = self.crop or h
        if crop > min(h, w):
            raise ValueError(f"a {crop}-pixel crop of {h}x{w} views")
        offsets = torch.stack(random_offsets(b, h, w, crop, generator, self.random_crop and crop < h), 1)
        flips = (torch.rand(b, generator=generator, device=gdev) < 0.5) if self.flip else None
        if crop == h == w:
            if flips is None:
                return x
            return torch.where(flips.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)
        return crop_batch(x, offsets, crop, flips)


def _normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
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
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, flip: bool = True):
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
