"""Shared helpers for the benchmarks: device and version info, timing, JSON output, and a
synthetic ImageNet-like JPEG data set.

    import common                                   # benchmarks/ is on sys.path when a script runs
    info = common.device_info(torch.device("cuda"))  # {"device": "NVIDIA H100 ...", ...}
    common.write_synthetic_jpegs("/tmp/jpegs", num_images=2000, num_classes=10)
    with common.Timer(device) as t:                  # CUDA events on CUDA, perf_counter on CPU
        ...
    t.seconds
    common.write_json("benchmarks/results/x.json", result)
    log = JsonlWriter("x.log.jsonl"); log.write("result", **row)   # alexnet.jsonl, the package's one writer

The JPEGs are not noise: each image is a smooth two-colour gradient with a low-frequency
"cloud" texture, a few filled shapes (ellipses, rectangles, polygons, some striped) and a
little sensor noise, at ImageNet's typical sizes (mostly 500×375 and 375×500). Noise would
compress badly and decode slower than real photographs; flat colour would decode faster.
The class of an image tints its palette, so the labels are not pure chance either.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

SYNTHETIC_FORMAT = "alexnet-bench-jpegs/1"

# ImageNet's most common sizes (width, height) with rough frequencies: most photos are 500 wide.
IMAGE_SIZES = ((500, 375), (375, 500), (500, 333), (500, 500), (400, 300))
SIZE_WEIGHTS = (0.55, 0.15, 0.15, 0.1, 0.05)


# --------------------------------------------------------------------------- environment


def versions() -> dict[str, str | None]:
    """Python, torch, torchvision, CUDA and cuDNN versions (None where not present)."""
    import torch
    import torchvision
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "cuda": torch.version.cuda,
            "cudnn": None if cudnn is None else str(cudnn)}


def device_name(device) -> str:
    """``torch.cuda.get_device_name()`` on CUDA, else ``"cpu"``."""
    import torch
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def device_info(device) -> dict[str, Any]:
    """Name, CPU count, and for CUDA the memory and compute capability of ``device``."""
    import torch
    device = torch.device(device)
    info: dict[str, Any] = {"device": device_name(device), "device_type": device.type,
                            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "platform": platform.platform()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    compute_capability=f"{props.major}.{props.minor}",
                    gpu_count=torch.cuda.device_count())
    return info


def slug(text: str) -> str:
    """A file-name-safe form of a device name: ``"NVIDIA H100 80GB HBM3"`` → ``"nvidia-h100-80gb-hbm3"``."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-") or "device"


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def command_line() -> str:
    """The command that started this process, as one shell-like line."""
    import shlex
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


# --------------------------------------------------------------------------- output


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically (a crash never leaves half a file)."""
    from alexnet.atomic import atomic_write_text
    path = Path(path)
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path


# --------------------------------------------------------------------------- timing


class Timer:
    """Elapsed time of a block: CUDA events on a CUDA device (what the GPU stream saw, from the
    first event to the last, so host-side stalls waiting for data count too), perf_counter on CPU.

        with Timer(device) as t:
            for _ in range(n): step()
        t.seconds
    """

    def __init__(self, device) -> None:
        import torch
        self.device = torch.device(device)
        self.seconds = float("nan")

    def __enter__(self) -> "Timer":
        import torch
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)
            self._start.record(torch.cuda.current_stream(self.device))  # the device's, not the current one's
        else:
            self._t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        import torch
        if exc_type is not None:
            return
        if self.device.type == "cuda":
            self._end.record(torch.cuda.current_stream(self.device))
            torch.cuda.synchronize(self.device)
            self.seconds = self._start.elapsed_time(self._end) / 1000.0
        else:
            self.seconds = time.perf_counter() - self._t0


def matmul_peak_tflops(device, dtype=None, size: int | None = None, iters: int | None = None) -> dict[str, Any]:
    """Measured dense matmul rate of ``device``: ``{"dtype", "size", "tflops"}``.

    CUDA: a bf16 ``size``×``size`` matmul (default 8192), 5 warm-up and 50 timed runs with CUDA
    events — the practical peak that model FLOP rates are compared against. CPU: float32 by
    default (most CPUs have no fast bf16 path), 1024×1024.
    """
    import torch
    device = torch.device(device)
    if dtype is None:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    size = size or (8192 if device.type == "cuda" else 1024)
    iters = iters or (50 if device.type == "cuda" else 5)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(5 if device.type == "cuda" else 1):
        a @ b
    with Timer(device) as t:
        for _ in range(iters):
            a @ b
    tflops = 2 * size**3 * iters / t.seconds / 1e12
    return {"dtype": str(dtype).replace("torch.", ""), "size": size, "tflops": tflops}


# --------------------------------------------------------------------------- synthetic JPEGs


def class_folder(index: int) -> str:
    """A WordNet-id-shaped folder name for class ``index`` (``n00000003``), so sorting keeps order."""
    return f"n{index:08d}"


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency value noise in [0, 1], (h, w): a coarse random grid upsampled bicubically."""
    from PIL import Image
    gh, gw = max(2, cells * h // max(h, w)), max(2, cells * w // max(h, w))
    grid = (rng.random((gh, gw)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0


def synthetic_image(index: int, label: int, num_classes: int, seed: int = 0,
                    size: tuple[int, int] | None = None) -> "Image.Image":
    """One photograph-like RGB PIL image, deterministic in (seed, index).

    ``size`` (width, height) defaults to a draw from ImageNet's common sizes.
    """
    from PIL import Image, ImageDraw
    rng = np.random.default_rng([seed, index])
    if size is None:
        size = IMAGE_SIZES[rng.choice(len(IMAGE_SIZES), p=SIZE_WEIGHTS)]
    w, h = size
    hue = 2 * math.pi * label / max(1, num_classes)
    base = 127 + 90 * np.array([math.cos(hue), math.cos(hue + 2.09), math.cos(hue + 4.19)])
    c0 = np.clip(base + rng.normal(0, 40, 3), 0, 255)
    c1 = np.clip(255 - base + rng.normal(0, 40, 3), 0, 255)

    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * math.cos(angle) + yy * math.sin(angle))
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    img = (1 - t)[..., None] * c0 + t[..., None] * c1
    clouds = _smooth_noise(rng, h, w, cells=int(rng.integers(4, 16))) - 0.5
    img += clouds[..., None] * rng.uniform(40, 120)

    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
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
            n = int(rng.integers(3, 8))
            angles = np.sort(rng.uniform(0, 2 * math.pi, n))
            draw.polygon([(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles], fill=colour)
    out = np.asarray(canvas, dtype=np.float32)
    # Fine texture at several scales (foliage, fur, gravel) over everything, shapes included:
    # real photographs carry detail everywhere, which is what makes their JPEGs ~110 KB and
    # their decoding cost what it is.
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
    from alexnet.atomic import atomic_path
    with atomic_path(path) as tmp:
        image.save(tmp, format="JPEG", quality=quality)
    return os.path.getsize(path)


def _progress_lines(done: int, total: int, start: float, last: list[float], what: str) -> None:
    """One line per 10 s (and at the end) on stderr: works in logs and terminals alike."""
    now = time.perf_counter()
    if done == total or now - last[0] >= 10:
        last[0] = now
        rate = done / max(1e-9, now - start)
        print(f"  {what}: {done}/{total} ({rate:.0f}/s)", file=sys.stderr, flush=True)


def write_synthetic_jpegs(root: str | os.PathLike, num_images: int, num_classes: int = 10, *,
                          seed: int = 0, quality: int = 90, workers: int | None = None) -> dict[str, Any]:
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
    total_bytes, start, last = 0, time.perf_counter(), [time.perf_counter()]
    if workers == 1:
        sizes: Iterable[int] = map(_write_one, jobs)
        for done, n in enumerate(sizes, 1):
            total_bytes += n
            _progress_lines(done, num_images, start, last, "writing JPEGs")
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for done, n in enumerate(pool.imap_unordered(_write_one, jobs, chunksize=16), 1):
                total_bytes += n
                _progress_lines(done, num_images, start, last, "writing JPEGs")
    manifest = {**want, "bytes": total_bytes, "mean_bytes": total_bytes / num_images}
    write_json(manifest_path, manifest)
    return manifest
