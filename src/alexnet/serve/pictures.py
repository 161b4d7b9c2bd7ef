"""Tensors and images → PNG/JPEG bytes and ``data:`` URLs for the page (Pillow, no matplotlib figures)."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image


def _viridis_lut() -> np.ndarray:
    from matplotlib import colormaps
    return (colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


_LUT: np.ndarray | None = None


def colour(values01: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (H, W) → viridis RGB uint8 (H, W, 3)."""
    global _LUT
    if _LUT is None:
        _LUT = _viridis_lut()
    return _LUT[np.clip(np.rint(values01 * 255), 0, 255).astype(np.uint8)]


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def maps_pngs(maps: torch.Tensor) -> tuple[list[str], list[float]]:
    """Feature maps (C, H, W) after ReLU → one viridis PNG ``data:`` URL per map, all on the layer's
    one scale (0 → dark, the largest activation in the layer → yellow), and each map's maximum."""
    maps = maps.float()
    top = float(maps.max()) if maps.numel() else 0.0
    scaled = (maps / top if top > 0 else torch.zeros_like(maps)).numpy()
    urls = [data_url(png_bytes(Image.fromarray(colour(m)))) for m in scaled]
    return urls, maps.flatten(1).max(1).values.tolist()


def to_pil(image01: torch.Tensor) -> Image.Image:
    """(C, H, W) in [0, 1], C = 1 or 3 → an 8-bit PIL image."""
    pixels = (image01.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)


def signed(t: torch.Tensor) -> torch.Tensor:
    """A signed tensor → [0, 1] with 0 at 0.5 and its largest magnitude at 0 or 1 (deconvnet projections)."""
    return 0.5 + t / (2 * t.abs().max().clamp_min(1e-12))


def heat_overlay(image01: torch.Tensor, heat: torch.Tensor, alpha: float = 0.55) -> Image.Image:
    """``heat`` (h, w) ≥ 0, scaled to its maximum and resized (bilinear) to the image, in viridis over the
    image (C, H, W) in [0, 1]: the hotter, the more the colour covers the picture."""
    h, w = image01.shape[-2:]
    heat = heat.detach().float().clamp_min(0)
    heat = heat / heat.max().clamp_min(1e-12)
    heat = torch.nn.functional.interpolate(heat[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    base = np.asarray(to_pil(image01).convert("RGB"), dtype=np.float32)
    weight = (alpha * heat.clamp(0, 1).numpy())[..., None]
    mixed = base * (1 - weight) + colour(heat.clamp(0, 1).numpy()).astype(np.float32) * weight
    return Image.fromarray(mixed.round().clip(0, 255).astype(np.uint8))


def tile_mosaic(tiles01: torch.Tensor, cols: int, scale: int = 3, gap: int = 1) -> Image.Image:
    """(N, C, h, w) tiles in [0, 1] → one image, ``cols`` per row, each enlarged ``scale``× (nearest)."""
    n, c, h, w = tiles01.shape
    rows = -(-n // cols)
    sheet = torch.ones(c, rows * (h + gap) - gap, cols * (w + gap) - gap)
    for i, tile in enumerate(tiles01):
        r, k = divmod(i, cols)
        sheet[:, r * (h + gap):r * (h + gap) + h, k * (w + gap):k * (w + gap) + w] = tile
    image = to_pil(sheet)
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)
