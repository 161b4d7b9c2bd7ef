"""Finding and opening the images a user points the trained net at.

    paths = find_images(["photos/", "cat.jpg"])        # directories walked recursively
    image = open_image("cat.jpg", channels=3)           # EXIF-upright, RGB (or "L" for 1 channel)
    image = decode_image(upload_bytes, channels=3, max_pixels=40_000_000)   # the same, from memory
    images, failures = open_images(paths, channels=3)   # failures: [(path, reason)], nothing raised

Any format Pillow reads is accepted (JPEG, PNG, BMP, WebP, GIF's first frame, TIFF, PPM...);
grey, palette, CMYK and alpha images are converted to what the weights expect.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterable, Sequence

from PIL import Image, ImageOps, UnidentifiedImageError

from ..walk import walk_files

#: Extensions a directory walk picks up (compared case-insensitively). Files named explicitly
#: on the command line are opened whatever their extension.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".webp", ".gif", ".tif",
                              ".tiff", ".ppm", ".pgm", ".pbm", ".pnm"})


class ImageReadError(ValueError):
    """An image file that could not be read; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


def find_images(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and directories into image paths: directories recursively, in sorted order.

    Explicit files are kept as given (even without an image extension, and even if missing: the
    failure is reported when the file is opened). Raises FileNotFoundError when nothing is found.
    """
    found: list[Path] = []
    inputs = [Path(p) for p in inputs]
    seen: set = set()
    for path in inputs:
        if path.is_dir():
            # symlinked folders followed once each, as prepare walks them (alexnet.walk)
            found.extend(sorted(p for p in map(Path, walk_files(path, seen=seen))
                                if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                                and not any(part.startswith(".") for part in p.relative_to(path).parts)))
        else:
            found.append(path)
    if not found:
        raise FileNotFoundError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) found in "
                                f"{', '.join(map(str, inputs)) or 'the given paths'}")
    return found


def to_mode(image: Image.Image, channels: int) -> Image.Image:
    """Convert any Pillow image to RGB (``channels=3``) or grey "L" (``channels=1``) as torchvision's
    users do, with Pillow's ``convert``: grey is repeated, CMYK and palettes are mapped, and an
    alpha channel is dropped (the colour stored under transparent pixels is kept, as
    ``Image.open(p).convert("RGB")`` keeps it). 16-bit grey (and 32-bit integer grey above 255, as
16-bit TIFFs may open) is scaled to 8 bits, not clipped.
    """
    if channels not in (1, 3):
        raise ValueError(f"weights expect {channels} input channels; only 1 (grey) and 3 (RGB) are supported")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")      # (the same colours as P → RGB, without Pillow's warning)
    if image.mode.startswith("I;16") or (image.mode == "I" and image.getextrema()[1] > 255):
        # 16-bit grey: Pillow's "L" conversion clips at 255; scale to 8 bits instead.
        image = image.convert("I").point(lambda v: v * (1 / 256))
    return image.convert("RGB" if channels == 3 else "L")


def open_image(path: str | os.PathLike, channels: int = 3) -> Image.Image:
    """Read ``path`` fully, honour its EXIF orientation and convert it (see :func:`to_mode`).

    Multi-frame files (GIF, TIFF) give their first frame. Raises :class:`ImageReadError` with the
    reason when the file is missing, not an image, or truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "no such file" if not path.exists() else "not a regular file")
    return _decode(path, path, channels)


def decode_image(data: bytes, channels: int = 3, name: str = "upload", max_pixels: int | None = None) -> Image.Image:
    """:func:`open_image` for bytes in memory (an upload): the same decoding, orientation and mode.

    ``max_pixels``: refuse an image whose header declares more pixels than this before decoding
    it (a decompression bomb: a few kilobytes that decode to gigabytes). Pillow's own limit
    (``Image.MAX_IMAGE_PIXELS``) applies as well.
    """
    if not data:
        raise ImageReadError(name, "empty: no bytes were sent")
    return _decode(io.BytesIO(data), name, channels, max_pixels)


def _decode(source, name, channels: int, max_pixels: int | None = None) -> Image.Image:
    try:
        with Image.open(source) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageReadError(name, f"{width}×{height} = {width * height:,} pixels is over the limit of "
                                           f"{max_pixels:,} (a decompression bomb?); send a smaller image")
            image.seek(0)
            image.load()  # decode now, so a truncated file fails here and not later in a batch
            upright = ImageOps.exif_transpose(image)
            return to_mode(upright, channels)
    except UnidentifiedImageError:
        raise ImageReadError(name, "not an image Pillow can read (unknown or damaged format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        if isinstance(e, ImageReadError):
            raise
        raise ImageReadError(name, f"could not be decoded ({e})") from None


def open_images(paths: Sequence[str | os.PathLike], channels: int = 3
                ) -> tuple[list[tuple[Path, Image.Image]], list[tuple[Path, str]]]:
    """Open every path; return ([(path, image)], [(path, reason)]) — unreadable files never raise."""
    images, failures = [], []
    for path in paths:
        try:
            images.append((Path(path), open_image(path, channels)))
        except ImageReadError as e:
            failures.append((Path(path), e.reason))
    return images, failures
