"""Turn one input file into the stored image (the paper's preprocessing), in a worker process.

Shorter side to ``size`` and central ``size``×``size`` crop, done as one resize of the central
square (PIL bilinear, antialiased when shrinking), after EXIF rotation and conversion to RGB;
stored as JPEG (quality 90 by default). Files that cannot be read or decoded raise
:class:`Skip` with a short reason and a detail.

Speed (the measured throughput of ``alexnet prepare`` is in docs/BENCHMARKS.md, with its result
file): nearly all the time is spent in C (decoding, resizing, encoding, the statistics). A plain
YCbCr JPEG (no APP1 EXIF/XMP segment, no MPF, not shrunk by ``draft``) is decoded by simplejpeg
without PIL parsing its header; everything else takes the PIL path, which stays the tested
fallback when simplejpeg is missing. Both give the same pixels (tests compare them with the plain
PIL implementation). Faster options that change the stored pixels are not used: DCT-scaled
decoding (libjpeg's M/8 scales) and ``fastdct``/``fastupsample``.
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
    if item.kind == "parquet":
        return _parquet_bytes(item)
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


# -- parquet rows: one row group's image column at a time, per process -----------------------------
# A chunk's items are contiguous (shard, row group, row), so keeping the last row group read makes
# each row group be read once per chunk; release_readers() (end of a chunk) drops it and the file.
_pq_file: tuple[str, object] | None = None        # (path, pyarrow.parquet.ParquetFile)
_pq_group: tuple[tuple[str, int], object] | None = None   # ((path, row group), BinaryArray or Skip)


def release_readers() -> None:
    """Close the cached parquet file and drop its cached row group."""
    global _pq_file, _pq_group
    if _pq_file is not None:
        try:
            _pq_file[1].close()
        except Exception:  # pragma: no cover - closing must not fail a chunk
            pass
    _pq_file = _pq_group = None


def _load_row_group(path: str, group: int):
    """The image bytes column (pyarrow BinaryArray) of one row group, or a Skip saying why not."""
    global _pq_file
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        return Skip("pyarrow missing", "reading parquet shards needs `pip install pyarrow`")
    try:
        if _pq_file is None or _pq_file[0] != path:
            release_readers()
            _pq_file = (path, pq.ParquetFile(path))
        col = _pq_file[1].read_row_group(group, columns=["image"]).column("image").combine_chunks()
        if pa.types.is_struct(col.type):      # Hugging Face Image: struct {bytes, path}
            col = pc.struct_field(col, [col.type.get_field_index("bytes")])
        return col
    except FileNotFoundError as e:
        return Skip("file not found", str(e))
    except Exception as e:  # damaged shard, bad row group, …: every row of it is reported
        return Skip("unreadable parquet", f"row group {group}: {e}")


def _parquet_bytes(item: Item) -> bytes:
    global _pq_group
    key = (item.path, item.offset)
    if _pq_group is None or _pq_group[0] != key:
        _pq_group = None                      # free the previous group before reading the next
        _pq_group = (key, _load_row_group(item.path, item.offset))
    images = _pq_group[1]
    if isinstance(images, Skip):
        raise Skip(images.reason, images.detail)
    if not 0 <= item.size < len(images):
        raise Skip("unreadable parquet", f"row group {item.offset} has {len(images)} rows, not row {item.size}")
    value = images[item.size]
    if not value.is_valid:
        raise Skip("missing image", "image bytes are null")
    return value.as_py()


try:  # optional: the same libjpeg-turbo decoder without PIL's overhead (PIL stays the fallback)
    import simplejpeg as _simplejpeg
except ImportError:  # pragma: no cover - depends on the environment
    _simplejpeg = None

_ORIENTATION = 0x0112            # EXIF Orientation; 2..8 need a transpose, 1 / missing do not
_TRANSPOSING = frozenset(range(2, 9))


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_ORIENTATION, 1))
    except Exception:  # a damaged EXIF block must not cost the image: keep it unrotated
        return 1


def _needs_pil_header(data: bytes) -> bool:
    """True when the JPEG's header segments (before the scan) hold something only PIL's parser
    acts on: an APP1 segment (EXIF or XMP, where PIL finds the orientation) or an APP2 "MPF"
    segment (PIL opens the file as MPO). Unusual structure also answers True: PIL decides."""
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return True
        marker = data[pos + 1]
        if marker == 0xFF:                               # fill byte
            pos += 1
            continue
        if marker == 0xDA:                               # start of scan: the header is over
            return False
        if marker == 0xE1 or (marker == 0xE2 and data[pos + 4:pos + 8] == b"MPF\x00"):
            return True
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:     # markers without a length: not expected here
            return True
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return True


def _fast_jpeg(data: bytes, size: int, header_checked: bool = False) -> Image.Image | None:
    """The decoded RGB image via simplejpeg when that gives exactly PIL's pixels: a 3-component
    (YCbCr/RGB) JPEG, baseline or progressive, that PIL's ``draft`` would not shrink (DCT scaling
    only happens when both sides are ≥ 2·size) and that PIL would not rotate. None: decode with PIL.

    Without ``header_checked`` the file is not opened with PIL at all (saves PIL's header parse):
    then a file with an APP1 (EXIF/XMP orientation) or MPF segment answers None, and the caller's
    PIL path reads its orientation and calls again with ``header_checked=True`` when it is 1."""
    if _simplejpeg is None or data[:3] != b"\xff\xd8\xff":
        return None
    try:
        h, w, colorspace, _ = _simplejpeg.decode_jpeg_header(data)
    except Exception:  # unusual subsampling, damaged header, …: PIL decides
        return None
    if colorspace not in ("YCbCr", "RGB") or min(w // size, h // size) >= 2:
        return None
    if Image.MAX_IMAGE_PIXELS and w * h > Image.MAX_IMAGE_PIXELS:   # PIL warns or refuses
        return None
    if not header_checked and _needs_pil_header(data):
        return None
    try:
        arr = _simplejpeg.decode_jpeg(data, colorspace="RGB")
    except Exception:  # anything odd (damaged data, …): PIL decides what it can decode
        return None
    if arr.shape != (h, w, 3):
        return None
    return Image.fromarray(arr)


def central_square(img: Image.Image, size: int) -> Image.Image:
    """The central square of an RGB image, resized to ``size``×``size`` in one step."""
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + s, top + s))


def to_square_rgb(data: bytes, size: int) -> tuple[Image.Image, str]:
    """Encoded image → RGB ``size``×``size`` PIL image (central square, resized), and a note on
    the input ("JPEG/CMYK", "PNG/L", …) for the summary."""
    if not data:
        raise Skip("empty file", "0 bytes")
    fast = _fast_jpeg(data, size)               # plain YCbCr JPEGs: no PIL open at all
    if fast is not None:
        return central_square(fast, size), "JPEG/RGB"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # big but decodable
            img = Image.open(io.BytesIO(data))
            note = f"{img.format}/{img.mode}"
            is_jpeg = img.format == "JPEG"
            if is_jpeg:                              # its EXIF is known before decoding
                orientation = _orientation(img)
                if orientation not in _TRANSPOSING and img.mode == "RGB":
                    fast = _fast_jpeg(data, size, True)   # (header_checked: orientation is 1)
            if fast is None:
                img.draft(img.mode, (size, size))   # JPEG: decode at a reduced scale when it stays ≥ size
                img.load()
            else:
                img = fast
            if not is_jpeg:
                orientation = _orientation(img)
    except UnidentifiedImageError as e:
        raise Skip("not an image", "format not recognised") from e
    except Image.DecompressionBombError as e:
        raise Skip("image too large", str(e)) from e
    except (OSError, SyntaxError, ValueError) as e:
        raise Skip("corrupt image", str(e)) from e
    if orientation in _TRANSPOSING:       # (otherwise exif_transpose would only copy the image)
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:  # a damaged EXIF block must not cost the image: keep it unrotated
            pass
    if img.mode.startswith("I;16") or (img.mode == "I" and img.getextrema()[1] > 255):
        # 16-bit grey: Pillow's RGB conversion clips at 255 (a white square); scale to 8 bits, as
        # predict does (alexnet.use.images.to_mode)
        img = img.convert("I").point(lambda v: v * (1 / 256))
    if img.mode != "RGB":
        img = img.convert("RGB")
    return central_square(img, size), note


def encode_jpeg(img: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def decode_stored(encoded: bytes) -> np.ndarray:
    """The pixels a reader will see (stats are computed from these, not from the pre-JPEG image).

    simplejpeg when installed (the same libjpeg-turbo decode, bit-identical to PIL's on the JPEGs
    :func:`encode_jpeg` writes; tests check it), else PIL."""
    if _simplejpeg is not None:
        try:
            return _simplejpeg.decode_jpeg(encoded, colorspace="RGB")
        except Exception:
            pass
    with Image.open(io.BytesIO(encoded)) as img:
        return np.asarray(img.convert("RGB"))


def process_jpeg(data: bytes, size: int, quality: int) -> tuple[bytes, np.ndarray, str]:
    img, note = to_square_rgb(data, size)
    encoded = encode_jpeg(img, quality)
    return encoded, decode_stored(encoded), note


def outer_sum(pixels: np.ndarray) -> np.ndarray:
    """``Σ_p x_p x_pᵀ`` over the pixels of a uint8 (…, C) image: (C, C) int64, exact.

    In float32 over blocks of 256 pixels: every product (≤ 255²) and every partial sum of a block
    (≤ 256·255² < 2²⁴) is an integer float32 holds exactly, whatever the summation order; the
    block sums are added in float64 (exact below 2⁵³). About 3× faster than a float64 matmul."""
    c = pixels.shape[-1]
    x = pixels.reshape(-1, c)
    if x.dtype != np.uint8:
        f = x.astype(np.float64)
        return np.rint(f.T @ f).astype(np.int64)
    n, block = x.shape[0], 256
    nb = -(-n // block)
    xt = (np.empty if n == nb * block else np.zeros)((c, nb * block), np.float32)
    xt[:, :n] = x.T
    xt = xt.reshape(c, nb, block)
    out = np.empty((c, c), np.int64)
    for i in range(c):
        for j in range(i, c):
            out[i, j] = out[j, i] = int(np.einsum("bk,bk->b", xt[i], xt[j]).sum(dtype=np.float64))
    return out


def process_raw(data: bytes, size: int, channels: int) -> tuple[bytes, np.ndarray, str]:
    if len(data) != size * size * channels:
        raise Skip("bad record", f"{len(data)} bytes, expected {size}x{size}x{channels}")
    return data, np.frombuffer(data, np.uint8).reshape(size, size, channels), "raw"
