"""Throughput of the data pipeline: ``alexnet prepare`` and the StoreLoader (+ paper augmentation).

Usage::

    python benchmarks/data_throughput.py                  # ~1,000 ImageNet-sized JPEGs
    python benchmarks/data_throughput.py --quick          # a few dozen images (CI)
    python benchmarks/data_throughput.py --images 3000 --dir /data/bench --json out.json

It generates JPEGs of about 500×375 with real image structure (smooth gradients, shapes, a
clouds, texture, shapes; not pure noise — benchmarks/common.py), prepares them (all cores), then reads the store with the CPU
loader (PIL, and simplejpeg if installed) with and without the paper's augmentation, and the
GPU decode path when CUDA is available. Prints a table; writes JSON with the machine, date,
versions and command line. Targets: prepare ≥ 400 images/s per core; CPU loader ≥ 1,000
images/s per core.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import command_line, today, versions, write_json, write_synthetic_jpegs  # noqa: E402

from alexnet.data.augment import PaperTrainTransform  # noqa: E402
from alexnet.data.loader import StoreLoader  # noqa: E402
from alexnet.data.prepare import prepare  # noqa: E402
from alexnet.data.store import PreparedStore  # noqa: E402


def loader_rate(store: PreparedStore, batch: int, workers: int, decoder: str, augment: bool,
                device: str = "cpu", epochs: int = 2) -> float:
    loader = StoreLoader(store, batch, seed=0, workers=workers, decoder=decoder, device=device,
                         drop_last=False, prefetch=max(2, workers))
    tf = PaperTrainTransform(224, store.stats()) if augment else None
    g = torch.Generator().manual_seed(0)
    n = 0
    t0 = time.time()
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for images, labels in loader:
            if tf is not None:
                images = tf(images, g if device == "cpu" else None)
            n += len(labels)
    if device == "cuda":
        torch.cuda.synchronize()
    return n / (time.time() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="48 images, one loader epoch")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one, removed)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--json", type=Path, default=None,
                    help="result file (default: benchmarks/results/data-<cpu|gpu>-<date>.json)")
    args = ap.parse_args(argv)
    n = 48 if args.quick else args.images
    epochs = 1 if args.quick else 3
    work = args.dir or Path(tempfile.mkdtemp(prefix="alexnet-data-bench-"))
    cores = args.workers
    rows = []
    try:
        src, out = work / "src", work / "out"
        if out.exists():
            shutil.rmtree(out)
        t0 = time.time()
        write_synthetic_jpegs(src, n, num_classes=10, workers=cores)
        gen_s = time.time() - t0
        t0 = time.time()
        summary = prepare(src, out, split="train", workers=cores, progress=False, chunk_size=max(8, n // (4 * cores)))
        prep_s = time.time() - t0
        s = summary["splits"]["train"]
        rows.append({"stage": "prepare (decode+resize+JPEG q90+stats)", "decoder": "auto", "augment": "-",
                     "images_per_s": n / prep_s, "per_core": n / prep_s / cores})
        store = PreparedStore(out, "train")
        decoders = ["pil"]
        try:
            import simplejpeg  # noqa: F401
            decoders.append("simplejpeg")
        except ImportError:
            pass
        for dec in decoders:
            for aug in (False, True):
                r = loader_rate(store, args.batch, cores, dec, aug, epochs=epochs)
                rows.append({"stage": "loader CPU (256² JPEG decode)", "decoder": dec,
                             "augment": "paper" if aug else "none", "images_per_s": r, "per_core": r / cores})
        if torch.cuda.is_available():
            for aug in (False, True):
                r = loader_rate(store, args.batch, cores, "pil", aug, device="cuda", epochs=epochs)
                rows.append({"stage": "loader GPU (nvJPEG decode)", "decoder": "torchvision", "augment":
                             "paper" if aug else "none", "images_per_s": r, "per_core": r / cores})
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{n} generated JPEGs (~500x375) on {cores} CPU cores "
          f"({platform.processor() or platform.machine()}); store: {s['bytes'] / n / 1024:.1f} KiB/image")
    print(f"{'stage':42s} {'decoder':11s} {'augment':8s} {'images/s':>9s} {'per core':>9s}")
    for r in rows:
        print(f"{r['stage']:42s} {r['decoder']:11s} {r['augment']:8s} {r['images_per_s']:9.0f} {r['per_core']:9.0f}")
    print("targets: prepare >= 400 images/s per core; CPU loader >= 1000 images/s per core")
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": command_line(),
        "device": {"cpu_cores": cores, "machine": platform.machine(), "processor": platform.processor(),
                   "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "versions": versions(),
        "images": n, "generate_seconds": gen_s, "prepare_seconds": prep_s,
        "bytes_per_image": s["bytes"] / n, "rows": rows,
    }
    path = args.json or ROOT / "benchmarks" / "results" / (
        f"data-{'gpu' if torch.cuda.is_available() else 'cpu'}-{today()}.json")
    write_json(path, result)
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
