"""The data pipeline and the whole training run, against torchvision's plain recipe on the same JPEGs:
``prepare``, ``loader`` (each decoder, without and with the paper's augmentation), ``end_to_end`` (the
Trainer, timed through ``on_step``), ``eval`` (centre and 10 views) and ``baseline`` (ImageFolder + PIL +
DataLoader + torchvision.models.alexnet, fp32). docs/BENCHMARKS.md has the details.

    python benchmarks/pipeline.py                          # this machine's device
    python benchmarks/pipeline.py --images 3000 --skip end_to_end eval baseline   # prepare + loader only
    python benchmarks/pipeline.py --quick --out /tmp/p.json          # tiny, seconds (CI)
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import common

SECTIONS = ("prepare", "loader", "end_to_end", "eval", "baseline")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--images", type=int, default=None, help="training JPEGs (default 40,000 CUDA, 1,000 CPU)")
    p.add_argument("--val-images", type=int, default=None, help="validation JPEGs (default 5,000 CUDA, 100 CPU)")
    p.add_argument("--classes", type=int, default=None, help="default 100 CUDA, 10 CPU")
    p.add_argument("--batch-size", type=int, default=None, help="default 128 CUDA, 32 CPU")
    p.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1), help="both loaders' workers")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 10; 5 CPU)")
    p.add_argument("--baseline-steps", type=int, default=None, help="timed baseline steps (default 100; 10 CPU)")
    p.add_argument("--compile", action="store_true", help="end to end with the trainer's compile=true")
    p.add_argument("--skip", nargs="*", default=[], choices=SECTIONS)
    p.add_argument("--dir", type=Path, default=None, help="work folder, reused (default: a temporary one)")
    p.add_argument("--quick", action="store_true", help="8 images, batch 2, one step each: checks it runs")
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/results/pipeline-<device>-<date>.json")
    return p.parse_args(argv)


def fill_defaults(args, device) -> argparse.Namespace:
    cuda = device.type == "cuda"
    sizes = {"images": (8, 40_000, 1_000), "val_images": (4, 5_000, 100), "classes": (2, 100, 10),
             "batch_size": (2, 128, 32), "warmup": (1, 10, 5), "baseline_steps": (1, 100, 10)}
    for name, (quick, gpu, cpu) in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else gpu if cuda else cpu)
    if args.images < (args.warmup + 1) * args.batch_size:
        raise SystemExit(f"error: --images {args.images} is too few for --warmup {args.warmup} steps and one timed "
                         f"step of --batch-size {args.batch_size}")
    return args


def _row(section: str, name: str, images: int, seconds: float, **fields) -> dict[str, Any]:
    rate = images / seconds
    if not (math.isfinite(rate) and rate > 0):
        raise RuntimeError(f"{section} {name}: measured {rate} images/s; the timing failed")
    row = {"section": section, "name": name, "images_per_s": rate, "seconds": seconds, "images": images, **fields}
    print(f"  {section:<10} {name:<62} {rate:>10.1f} img/s", flush=True)
    return row


def jpegs_and_store(args, work: Path) -> tuple[Path, Path, dict]:
    """Generate the JPEGs (train and val class folders) and prepare them; timed."""
    from alexnet.data.prepare import prepare
    from alexnet.data.synthetic import write_synthetic_jpegs
    root, store = work / f"jpegs-{args.images}-{args.val_images}-{args.classes}", work / "store"
    m = write_synthetic_jpegs(root / "train", args.images, args.classes, seed=0, workers=args.workers)
    write_synthetic_jpegs(root / "val", args.val_images, args.classes, seed=1, workers=args.workers)
    shutil.rmtree(store, ignore_errors=True)          # prepared afresh, so its time is the whole work
    t0 = time.perf_counter()
    prepare(root, store, split="all", workers=args.workers, progress=False)
    row = _row("prepare", "decode + resize → 256² + JPEG q90 + statistics", args.images + args.val_images,
               time.perf_counter() - t0, workers=args.workers, mean_jpeg_bytes=m["mean_bytes"])
    return root, store, row


def loader_rows(args, store: Path, device) -> list[dict[str, Any]]:
    """StoreLoader epochs per decoder, without and with the paper's augmentation."""
    import importlib.util

    from alexnet.data.augment import PaperTrainTransform
    from alexnet.data.loader import StoreLoader
    from alexnet.data.store import PreparedStore
    train = PreparedStore(store, "train")
    decoders = [("cpu", "pil")] + ([("cpu", "simplejpeg")] if importlib.util.find_spec("simplejpeg") else [])
    rows = []
    for where, decoder in decoders + ([("cuda", "pil")] if device.type == "cuda" else []):
        for augment in (False, True):
            loader = StoreLoader(train, args.batch_size, seed=0, workers=args.workers, decoder=decoder,
                                 device=str(device) if where == "cuda" else "cpu", drop_last=False,
                                 prefetch=max(2, args.workers))
            tf, g, n = PaperTrainTransform(224, train.stats()) if augment else None, torch.Generator(), 0
            with common.Timer(device if where == "cuda" else "cpu") as t:
                for images, labels in loader:
                    n += len(labels if tf is None else tf(images, g))
            rows.append(_row("loader", f"{'nvJPEG' if where == 'cuda' else decoder} decode 256², "
                             f"{'paper augmentation' if augment else 'no augmentation'}", n, t.seconds,
                             decoder=decoder, decode_device=where, augment=augment, workers=args.workers))
    return rows


def end_to_end(args, device, store: Path, run_dir: Path):
    """One epoch of the paper recipe by the Trainer; returns (row, trainer, data) for the evaluation."""
    from alexnet.recipes import resolve_config
    from alexnet.train.data import build_data
    from alexnet.train.distributed import DistContext
    from alexnet.train.loop import Trainer
    over = {"data": str(store), "epochs": 1, "batch_size": args.batch_size, "workers": args.workers,
            "device": str(device), "compile": args.compile, "model.num_classes": args.classes}
    data = build_data(resolve_config("paper", over), DistContext(device=device))
    per_epoch = len(data.train_loader)
    if per_epoch <= args.warmup:
        raise ValueError(f"{per_epoch} batches per epoch; the timing needs more than --warmup {args.warmup}")
    marks: list[float] = []

    def clock(trainer, step: int) -> None:       # the end of the warm-up and of the last step
        if step in (args.warmup, per_epoch):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            marks.append(time.perf_counter())
    trainer = Trainer(resolve_config("paper", {**over, "max_steps_per_epoch": per_epoch}), run_dir, data,
                      ctx=DistContext(device=device), on_step=clock)
    summary = trainer.fit()
    if summary["status"] != "done":
        raise RuntimeError(f"the end-to-end training run stopped early: {summary['status']}")
    precision = "bf16" if trainer.amp_dtype == torch.bfloat16 else "fp32"
    row = _row("end_to_end", f"alexnet2012 {precision}{' compiled' if args.compile else ''}, prepared store + paper "
               f"augmentation", (per_epoch - args.warmup) * args.batch_size, marks[1] - marks[0], precision=precision,
               compile=args.compile, channels_last=trainer.channels_last, batch_size=args.batch_size,
               decode_device=data.train_loader.decode_device, decoder=data.train_loader.decoder,
               train_loss=summary["history"][-1]["train_loss"], fast_path=summary["fast_path"])
    return row, trainer, data


def evaluation(args, device, trainer, data) -> list[dict[str, Any]]:
    """Centre-crop and 10-view evaluation of the trained net over the val split (after a warm-up pass)."""
    from alexnet.data.views import make_view_fn
    from alexnet.evaluate import evaluate_model
    rows = []
    for views in (1, 10):
        view_fn = make_view_fn(data.preprocessing, data.mean_image, views=views)

        def run():
            return evaluate_model(trainer.model, data.val_loader, view_fn, device=device,
                                  precision=trainer.precision, progress=False)
        run()
        with common.Timer(device) as t:
            n = run()["num_images"]
        rows.append(_row("eval", f"alexnet2012 {'10-view' if views == 10 else 'centre crop'}", n, t.seconds,
                         views=views, seconds_per_50k=50_000 * t.seconds / n))
    return rows


def baseline(args, device, jpeg_train: Path) -> dict[str, Any]:
    """torchvision's reference recipe, as users run it: ImageFolder + PIL + DataLoader workers, fp32."""
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision import transforms as T
    torch.manual_seed(0)
    tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    dataset = torchvision.datasets.ImageFolder(str(jpeg_train), transform=tf)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        pin_memory=device.type == "cuda", drop_last=True)
    model = torchvision.models.alexnet(weights=None, num_classes=len(dataset.classes)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    batches = (b for _ in iter(int, 1) for b in loader)      # as many epochs as the steps need

    def step():
        images, target = (t.to(device, non_blocking=True) for t in next(batches))
        loss = torch.nn.functional.cross_entropy(model(images), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for _ in range(args.warmup):
        step()
    with common.Timer(device) as t:
        for _ in range(args.baseline_steps):
            step()
    batches.close()
    return _row("baseline", f"torchvision alexnet fp32, ImageFolder + PIL, {args.workers} workers",
                args.baseline_steps * args.batch_size, t.seconds, batch_size=args.batch_size, workers=args.workers)


def run(args, device, work: Path) -> list[dict[str, Any]]:
    """Every section not in ``args.skip``; the JPEGs are made whenever any section needs them."""
    root, store, prep = jpegs_and_store(args, work)
    rows = [] if "prepare" in args.skip else [prep]
    if "loader" not in args.skip:
        rows += loader_rows(args, store, device)
    if {"end_to_end", "eval"} - set(args.skip):
        row, trainer, data = end_to_end(args, device, store, Path(tempfile.mkdtemp(prefix="run-", dir=work)))
        rows += [] if "end_to_end" in args.skip else [row]
        rows += [] if "eval" in args.skip else evaluation(args, device, trainer, data)
    if "baseline" not in args.skip:
        rows.append(baseline(args, device, root / "train"))
    return rows


def main(argv=None) -> int:
    from alexnet.device import resolve_device
    args = parse_args(argv)
    device = resolve_device(args.device)
    fill_defaults(args, device)
    start = common.started(device)
    with tempfile.TemporaryDirectory(prefix="pipeline-") as tmp:
        rows = run(args, device, args.dir or Path(tmp))
    best = {s: max((r["images_per_s"] for r in rows if r["section"] == s), default=None) for s in SECTIONS}
    out = args.out or common.RESULTS / f"pipeline-{device.type}-{common.today()}.json"
    common.write_result(out, {"quick": args.quick, "settings": {k: str(v) for k, v in vars(args).items()}, "rows": rows,
                              "end_to_end_over_baseline": (best["end_to_end"] / best["baseline"]
                                                           if best["end_to_end"] and best["baseline"] else None)},
                        device, start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
