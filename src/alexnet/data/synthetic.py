"""Synthetic data sets for the tests and the benchmarks (shared here so neither imports the other).

    write_synthetic_jpegs("/tmp/jpegs", num_images=2000, num_classes=10)   # an ImageFolder tree
    write_fashion_idx(Path("/tmp/fm"), n_train=64, n_test=32)             # Fashion-MNIST's idx files

The JPEGs are not noise: each image is a smooth two-colour gradient with a low-frequency "cloud"
texture, a few filled shapes, multi-scale fine texture, a striped region and a little sensor noise,
at ImageNet's typical sizes (mostly 500×375 and 375×500). Noise would compress badly and decode
slower than real photographs; flat colour would decode faster. The class of an image tints its
palette. The idx images are 28×28 grey with a bright horizontal band at a class-specific height, so
a net learns them in a few steps.
"""

from __future__ import annotations

import gzip
import json
import math
import multiprocessing
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from ..atomic import atomic_path, atomic_write_text
from ..progress import Progress

if TYPE_CHECKING:
    from PIL import Image

SYNTHETIC_FORMAT = "alexnet-bench-jpegs/1"
# ImageNet's most common sizes (width, height) with rough frequencies: most photos are 500 wide.
IMAGE_SIZES = ((500, 375), (375, 500), (500, 333), (500, 500), (400, 300))
SIZE_WEIGHTS = (0.55, 0.15, 0.15, 0.1, 0.05)


def class_folder(index: int) -> str:
    """A WordNet-id-shaped folder name for class ``index`` (``n00000003``), so sorting keeps order."""
    return f"n{index:08d}"


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency value noise in [0, 1], (h, w): a coarse random grid upsampled bicubically."""
    from PIL import Image
    gh, gw = max(2, cells * h // max(h, w)), max(2, cells * w // max(h, w))
    grid = (rng.random((gh, gw)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0


def _shapes(canvas: "Image.Image", rng: np.random.Generator, base: np.ndarray) -> None:
    """A few filled ellipses, rectangles and polygons in colours near the class's palette."""
    from PIL import ImageDraw
    draw, (w, h) = ImageDraw.Draw(canvas), canvas.size
    for _ in range(int(rng.integers(3, 9))):
        colour = tuple(int(v) for v in np.clip(base + rng.normal(0, 70, 3), 0, 255))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.05, 0.3) * w, rng.uniform(0.05, 0.3) * h
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=colour)
        elif kind == 1:
            draw.rectangle([cx - rx, cy - ry, cx + rx, cy + ry], fill=colour)
        else:
            angles = np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(3, 8))))
            draw.polygon([(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles], fill=colour)


def synthetic_image(index: int, label: int, num_classes: int, seed: int = 0,
                    size: tuple[int, int] | None = None) -> "Image.Image":
    """One photograph-like RGB PIL image, deterministic in (seed, index); ``size`` (width, height)
    defaults to a draw from ImageNet's common sizes."""
    from PIL import Image
    rng = np.random.default_rng([seed, index])
    w, h = size or IMAGE_SIZES[rng.choice(len(IMAGE_SIZES), p=SIZE_WEIGHTS)]
    hue = 2 * math.pi * label / max(1, num_classes)
    base = 127 + 90 * np.array([math.cos(hue), math.cos(hue + 2.09), math.cos(hue + 4.19)])
    c0 = np.clip(base + rng.normal(0, 40, 3), 0, 255)
    c1 = np.clip(255 - base + rng.normal(0, 40, 3), 0, 255)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xx * math.cos(angle) + yy * math.sin(angle)
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    img = (1 - t)[..., None] * c0 + t[..., None] * c1
    img += (_smooth_noise(rng, h, w, cells=int(rng.integers(4, 16))) - 0.5)[..., None] * rng.uniform(40, 120)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    _shapes(canvas, rng, base)
    out = np.asarray(canvas, dtype=np.float32)
    # Fine texture at several scales over everything (real photographs carry detail everywhere,
    # which is what makes their JPEGs ~110 KB and their decoding cost what it is).
    for cells, amp in ((40, 30.0), (120, 30.0), (250, 30.0)):
        out += (_smooth_noise(rng, h, w, cells) - 0.5)[..., None] * (amp * rng.uniform(0.5, 1.5, 3)).astype(np.float32)
    # Stripes over one region: fine texture that the JPEG coder has to spend bits on.
    x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    x1, y1 = x0 + int(rng.integers(w // 6, w // 2)), y0 + int(rng.integers(h // 6, h // 2))
    period, phi = rng.uniform(3, 12), rng.uniform(0, 2 * math.pi)
    ys, xs = yy[y0:y1, x0:x1], xx[y0:y1, x0:x1]
    out[y0:y1, x0:x1] += (30 * np.sin((xs * math.cos(phi) + ys * math.sin(phi)) * 2 * math.pi / period))[..., None]
    out += rng.normal(0, 7, out.shape).astype(np.float32)  # sensor noise
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def _write_one(job: tuple[int, int, int, int, str, int]) -> int:
    index, label, num_classes, seed, path, quality = job
    image = synthetic_image(index, label, num_classes, seed)
    with atomic_path(path) as tmp:
        image.save(tmp, format="JPEG", quality=quality)
    return os.path.getsize(path)


def write_synthetic_jpegs(root: str | os.PathLike, num_images: int, num_classes: int = 10, *,
                          seed: int = 0, quality: int = 90, workers: int | None = None,
                          show: bool | None = None) -> dict[str, Any]:
    """Write ``num_images`` JPEGs as an ImageFolder tree ``root/<class_folder(c)>/<i>.JPEG``.

    Image i has class ``i % num_classes``. The tree is reused when ``root/manifest.json`` says it
    was written with the same arguments (the manifest is written last, so an interrupted run is
    redone). Returns the manifest: ``{"format", "num_images", "num_classes", "seed", "quality",
    "bytes", "mean_bytes"}``.
    """
    if num_images < 1 or num_classes < 1:
        raise ValueError(f"need at least one image and one class, got num_images={num_images}, "
                         f"num_classes={num_classes}")
    root = Path(root)
    want = {"format": SYNTHETIC_FORMAT, "num_images": num_images, "num_classes": num_classes,
            "seed": seed, "quality": quality}
    manifest_path = root / "manifest.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except ValueError:
            manifest = {}
        if {k: manifest.get(k) for k in want} == want:
            return manifest
        manifest_path.unlink()
    for c in range(num_classes):
        (root / class_folder(c)).mkdir(parents=True, exist_ok=True)
    jobs = [(i, i % num_classes, num_classes, seed, str(root / class_folder(i % num_classes) / f"{i:08d}.JPEG"),
             quality) for i in range(num_images)]
    workers = max(1, min(workers or os.cpu_count() or 1, num_images // 16 or 1))
    total_bytes = 0
    with Progress(total=num_images, desc="writing JPEGs", unit="img", show=show) as bar:
        pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
        sizes: Iterable[int] = pool.imap_unordered(_write_one, jobs, chunksize=16) if pool else map(_write_one, jobs)
        try:
            for n in sizes:
                total_bytes += n
                bar.update()
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    manifest = {**want, "bytes": total_bytes, "mean_bytes": total_bytes / num_images}
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return manifest


# --------------------------------------------------------------------------- Fashion-MNIST-format idx


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def band_images(n: int, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28×28 grey images (noise in [0, 60), a band of +180 at the class's height) and labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.int64)
    rows = 28 // num_classes
    for i, c in enumerate(labels):
        images[i, c * rows:(c + 1) * rows, :] += 180
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)


def write_fashion_idx(folder: str | os.PathLike, n_train: int = 64, n_test: int = 32, num_classes: int = 10) -> Path:
    """Write ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` into ``folder``; returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = band_images(n, num_classes, seed)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder
