"""The fast paths of prepare's per-image work give exactly the pixels of the plain PIL path.

process.to_square_rgb decodes plain YCbCr JPEGs with simplejpeg when it is installed (PIL for
everything else: CMYK, grey, PNG, EXIF-rotated, images PIL's draft shrinks, damaged files);
decode_stored uses simplejpeg too; outer_sum computes the RGB second moments in blocked
float32. Each is compared here with a reference written the original, obvious way.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image, ImageOps

import data_fixtures as fx
from alexnet.data import process


def reference_square(data: bytes, size: int) -> np.ndarray:
    """The original implementation: PIL decode (with draft), exif_transpose, RGB, box resize."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img = Image.open(io.BytesIO(data))
        img.draft(img.mode, (size, size))
        img.load()
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:
        pass
    img = img.convert("RGB")
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return np.asarray(img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + s, top + s)))


def inputs() -> dict[str, bytes]:
    pics = {}
    for i, (w, h) in enumerate([(500, 375), (375, 500), (333, 500), (640, 480), (256, 256), (1100, 800),
                                (300, 90)]):
        img = fx.picture(w, h, i)
        for sub in (0, 1, 2):
            pics[f"{w}x{h}_sub{sub}"] = fx.jpeg_bytes(img, subsampling=sub)
        pics[f"{w}x{h}_progressive"] = fx.jpeg_bytes(img, progressive=True)
    pics["cmyk"] = fx.jpeg_bytes(fx.picture(300, 280, 20).convert("CMYK"))
    pics["grey"] = fx.jpeg_bytes(fx.picture(280, 300, 21).convert("L"))
    pics["png"] = fx.png_bytes(fx.picture(290, 270, 22))
    pics["rotated"] = fx.exif_rotated_bytes()
    exif = Image.Exif()
    exif[0x0112] = 1
    pics["orientation_1"] = fx.jpeg_bytes(fx.picture(320, 260, 23), exif=exif)
    return pics


@pytest.mark.parametrize("fast", [True, False])
def test_square_equals_reference(fast, monkeypatch):
    if fast:
        pytest.importorskip("simplejpeg")
    else:
        monkeypatch.setattr(process, "_simplejpeg", None)
    for size in (256, 64):
        for name, data in inputs().items():
            img, note = process.to_square_rgb(data, size)
            assert img.mode == "RGB" and img.size == (size, size)
            np.testing.assert_array_equal(np.asarray(img), reference_square(data, size), err_msg=f"{name} {size}")


def test_fast_path_is_taken_only_where_it_is_exact(monkeypatch):
    pytest.importorskip("simplejpeg")
    used = []
    real = process._fast_jpeg
    monkeypatch.setattr(process, "_fast_jpeg", lambda *a: used.append(real(*a) is not None) or real(*a))
    pics = inputs()
    for name in ("500x375_sub2", "cmyk", "grey", "png", "rotated", "1100x800_sub2"):
        used.clear()
        process.to_square_rgb(pics[name], 256)
        assert any(used) == (name == "500x375_sub2"), name   # 1100x800: PIL's draft shrinks it


def test_damaged_files_still_skip():
    full = fx.jpeg_bytes(fx.picture(300, 280, 30))
    with pytest.raises(process.Skip) as e:
        process.to_square_rgb(full[: len(full) // 2], 256)
    assert e.value.reason == "corrupt image"
    with pytest.raises(process.Skip):
        process.to_square_rgb(b"not an image", 256)


@pytest.mark.parametrize("fast", [True, False])
def test_decode_stored_equals_pil(fast, monkeypatch):
    if fast:
        pytest.importorskip("simplejpeg")
    else:
        monkeypatch.setattr(process, "_simplejpeg", None)
    for name, data in list(inputs().items())[:12]:
        encoded, pixels, _ = process.process_jpeg(data, 256, 90)
        with Image.open(io.BytesIO(encoded)) as img:
            np.testing.assert_array_equal(pixels, np.asarray(img.convert("RGB")), err_msg=name)


@pytest.mark.parametrize("shape", [(256, 256, 3), (28, 28, 1), (7, 5, 3), (1, 1, 3)])
def test_outer_sum_is_exact(shape):
    rng = np.random.default_rng(0)
    for px in (rng.integers(0, 256, shape, dtype=np.uint8), np.full(shape, 255, np.uint8)):
        c = shape[-1]
        flat = px.reshape(-1, c).astype(object)                  # Python integers: exact
        ref = np.array([[sum(flat[:, i] * flat[:, j]) for j in range(c)] for i in range(c)], np.int64)
        np.testing.assert_array_equal(process.outer_sum(px), ref)


def xmp_rotated_bytes() -> bytes:
    """A JPEG whose only orientation is in XMP (APP1 without EXIF): PIL's getexif reads it."""
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/>'
           b'</rdf:RDF></x:xmpmeta>')
    return fx.jpeg_bytes(fx.picture(300, 260, 40), xmp=xmp)


def mpo_bytes() -> bytes:
    buf = io.BytesIO()
    fx.picture(300, 260, 41).save(buf, format="MPO", save_all=True, append_images=[fx.picture(300, 260, 42)])
    return buf.getvalue()


def test_header_scan_sends_orientation_and_mpo_to_pil():
    pics = inputs()
    assert not process._needs_pil_header(pics["500x375_sub2"])             # JFIF only
    assert not process._needs_pil_header(pics["500x375_progressive"])
    assert process._needs_pil_header(pics["rotated"])                      # EXIF
    assert process._needs_pil_header(pics["orientation_1"])                # EXIF (orientation 1)
    assert process._needs_pil_header(xmp_rotated_bytes())                  # XMP
    assert process._needs_pil_header(mpo_bytes())                          # MPF
    assert process._needs_pil_header(pics["500x375_sub2"][:40])            # ends before the scan
    assert process._needs_pil_header(b"\xff\xd8\xff\xe0\x00")              # damaged


def test_plain_jpeg_skips_pil_open(monkeypatch):
    """A plain YCbCr JPEG goes through simplejpeg without PIL parsing its header; the result is
    the reference's."""
    pytest.importorskip("simplejpeg")
    data = inputs()["500x375_sub2"]
    expected = reference_square(data, 256)

    def no_open(*a, **k):
        raise AssertionError("PIL opened a plain JPEG")

    monkeypatch.setattr(process.Image, "open", no_open)
    img, note = process.to_square_rgb(data, 256)
    assert note == "JPEG/RGB"
    np.testing.assert_array_equal(np.asarray(img), expected)


@pytest.mark.parametrize("fast", [True, False])
def test_xmp_orientation_and_mpo_equal_reference(fast, monkeypatch):
    if fast:
        pytest.importorskip("simplejpeg")
    else:
        monkeypatch.setattr(process, "_simplejpeg", None)
    for name, data in (("xmp", xmp_rotated_bytes()), ("mpo", mpo_bytes())):
        img, note = process.to_square_rgb(data, 64)
        np.testing.assert_array_equal(np.asarray(img), reference_square(data, 64), err_msg=name)
        assert note == ("MPO/RGB" if name == "mpo" else "JPEG/RGB"), note
    with Image.open(io.BytesIO(xmp_rotated_bytes())) as im:         # the XMP input really is rotated
        assert im.getexif().get(0x0112) == 6


def test_huge_plain_jpeg_goes_to_pil(monkeypatch):
    """Above PIL's pixel limit the fast path steps aside, so PIL's bomb check still applies."""
    pytest.importorskip("simplejpeg")
    data = inputs()["500x375_sub2"]
    monkeypatch.setattr(process.Image, "MAX_IMAGE_PIXELS", 1000)
    assert process._fast_jpeg(data, 256) is None
    with pytest.raises(process.Skip) as e:                          # > 2x the limit: refused
        process.to_square_rgb(data, 256)
    assert e.value.reason == "image too large"
