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
