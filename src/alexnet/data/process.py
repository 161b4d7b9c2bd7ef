"""Turn one input file into the stored image (the paper's preprocessing), in a worker process.

Shorter side to ``size`` and central ``size``×``size`` crop, done as one resize of the central
square (PIL bilinear, antialiased when shrinking), after EXIF rotation and conversion to RGB;
stored as JPEG (quality 90 by default). Files that cannot be read or decoded raise
:class:`Skip` with a short reason and a detail.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .sources import Item

JPEG_QUALITY = 90


class Skip(Exception):
    """An input that is not written: ``reason`` (short, groupable) and ``detail``."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def read_item(item: Item) -> bytes:
    """The bytes of an input, or Skip with why they cannot be read."""
    try:
        if item.kind == "bytes":
            return item.data
        if item.kind == "range":
            fd = os.open(item.path, os.O_RDONLY)
            try:
                data = os.pread(fd, item.size, item.offset)
            finally:
                os.close(fd)
            if len(data) != item.size:
                raise Skip("truncated archive", f"member needs {item.size} bytes, archive ends after {len(data)}")
            return data
        with open(item.path, "rb") as f:
            return f.read()
    except FileNotFoundError as e:
        if os.path.islink(item.path):
            raise Skip("broken symlink", f"points to {os.readlink(item.path)}") from e
        raise Skip("file not found", str(e)) from e
    except PermissionError as e:
        raise Skip("permission denied", str(e)) from e
    except IsADirectoryError as e:
        raise Skip("not a file", str(e)) from e
    except OSError as e:
        raise Skip("unreadable", str(e)) from e


def to_square_rgb(data: bytes, size: int) -> tuple[Image.Image, str]:
    """Encoded image → RGB ``size``×``size`` PIL image (central square, resized), and a note on
    the input ("JPEG/CMYK", "PNG/L", …) for the summary."""
    if not data:
        raise Skip("empty file", "0 bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # big but decodable
            img = Image.open(io.BytesIO(data))
            note = f"{img.format}/{img.mode}"
            img.draft(img.mode, (size, size))   # JPEG: decode at a reduced scale when it stays ≥ size
            img.load()
    except UnidentifiedImageError as e:
        raise Skip("not an image", "format not recognised") from e
    except Image.DecompressionBombError as e:
        raise Skip("image too large", str(e)) from e
    except (OSError, SyntaxError, ValueError) as e:
        raise Skip("corrupt image", str(e)) from e
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a damaged EXIF block must not cost the image: keep it unrotated
        pass
    img = img.convert("RGB")
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + s, top + s)), note


def encode_jpeg(img: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def decode_stored(encoded: bytes) -> np.ndarray:
    """The pixels a reader will see (stats are computed from these, not from the pre-JPEG image)."""
    with Image.open(io.BytesIO(encoded)) as img:
        return np.asarray(img.convert("RGB"))


def process_jpeg(data: bytes, size: int, quality: int) -> tuple[bytes, np.ndarray, str]:
    img, note = to_square_rgb(data, size)
    encoded = encode_jpeg(img, quality)
    return encoded, decode_stored(encoded), note


def process_raw(data: bytes, size: int, channels: int) -> tuple[bytes, np.ndarray, str]:
    if len(data) != size * size * channels:
        raise Skip("bad record", f"{len(data)} bytes, expected {size}x{size}x{channels}")
    return data, np.frombuffer(data, np.uint8).reshape(size, size, channels), "raw"
