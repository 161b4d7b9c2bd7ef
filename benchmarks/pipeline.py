"""The data pipeline and the whole training run, against torchvision's plain recipe on the same JPEGs:
``prepare``, ``loader`` (each decoder, without and with the paper's augmentation), ``end_to_end`` (the
Trainer, timed through ``on_step``), ``eval`` (centre and 10 views) and ``baseline`` (ImageFolder + PIL +
DataLoader + torchvision.models.alexnet, fp32). docs/BENCHMARKS.md has the details.

    python benchmarks/pipeline.py                          # this machine's device
    python benchmarks/pipeline.py --images 3000 --skip end_to_end eval baseline   # prepare + loader only
    python benchmarks/pipeline.py --quick --out /tmp/p.json          # tiny, seconds (CI)
"""

import importlib.util
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

import common
from alexnet.data.augment import PaperTrainTransform
from alexnet.data.loader import StoreLoader
from alexnet.data.prepare import prepare
from alexnet.data.store import PreparedStore
from alexnet.data.synthetic import write_synthetic_jpegs
from alexnet.data.views import make_view_fn
from alexnet.device import resolve_device
from alexnet.evaluate import evaluate_model
from alexnet.recipes import resolve_config
from alexnet.train.data import build_data
from alexnet.train.distributed import DistContext
from alexnet.train.loop import Trainer


class Made(dict):
    """What the sections made for the later ones: the JPEGs, the store, the trained net."""
    def __missing__(self, key):
        raise RuntimeError(f"needs the {key} of an earlier section, which did not run")


def parse_args(argv=None):
    p = common.parser(__doc__, "pipeline", "8 images, batch 2, one step each: checks it runs")
    p.add_argument("--device", default="auto")
    p.add_argument("--images", type=int, default=None, help="training JPEGs (default 40,000 CUDA, 1,000 CPU)")
    p.add_argument("--val-images", type=int, default=None, help="validation JPEGs (default 5,000 CUDA, 100 CPU)")
    p.add_argument("--classes", type=int, default=None, help="default 100 CUDA, 10 CPU")
    p.add_argument("--batch-size", type=int, default=None, help="default 128 CUDA, 32 CPU")
    p.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1), help="both loaders' workers")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 10; 5 CPU)")
    p.add_argument("--baseline-steps", type=int, default=None, help="timed baseline steps (default 100; 10 CPU)")
    p.add_argument("--compile", action="store_true", help="end to end with the trainer's compile=true")
    p.add_argument("--skip", nargs="*", default=[], choices=list(SECTIONS))
    p.add_argument("--dir", type=Path, default=None, help="work folder, reused (default: a temporary one)")
    return p.parse_args(argv)


def _row(section: str, name: str, images: int, seconds: float, **fields) -> dict:
    rate = images / seconds
    if not (math.isfinite(rate) and rate > 0):
        raise RuntimeError(f"{section} {name}: measured {rate} images/s; the timing failed")
    print(f"  {section:<10} {name:<62} {rate:>10.1f} img/s", flush=True)
    return {"section": section, "name": name, "images_per_s": rate, "seconds": seconds, "images": images, **fields}


def jpegs_and_store(args, device, made: Made) -> list[dict]:
    """Generate the JPEGs (train and val class folders) and prepare them; timed."""
    root = made["root"] = made["work"] / f"jpegs-{args.images}-{args.val_images}-{args.classes}"
    store = made["store"] = made["work"] / "store"
    m = write_synthetic_jpegs(root / "train", args.images, args.classes, seed=0, workers=args.workers)
    write_synthetic_jpegs(root / "val", args.val_images, args.classes, seed=1, workers=args.workers)
    shutil.rmtree(store, ignore_errors=True)          # prepared afresh, so its time is the whole work
    t0 = time.perf_counter()
    prepare(root, store, split="all", workers=args.workers, progress=False)
    return [_row("prepare", "decode + resize → 256² + JPEG q90 + statistics", args.images + args.val_images,
                 time.perf_counter() - t0, workers=args.workers, mean_jpeg_bytes=m["mean_bytes"])]


def loader_rows(args, device, made: Made) -> list[dict]:
    """StoreLoader epochs per decoder, without and with the paper's augmentation."""
    train, rows = PreparedStore(made["store"], "train"), []
    decoders = [("cpu", "pil")] + ([("cpu", "simplejpeg")] if importlib.util.find_spec("simplejpeg") else [])
    for where, decoder in decoders + ([("cuda", "pil")] if device.type == "cuda" else []):
        for augment in (False, True):
            loader = StoreLoader(train, args.batch_size, seed=0, workers=args.workers, decoder=decoder,
                                 device=str(device) if where == "cuda" else "cpu", drop_last=False,
                                 prefetch=max(2, args.workers))
            tf, g, n = PaperTrainTransform(224, train.stats()) if augment else None, torch.Generator(), 0
            with common.timer(device if where == "cuda" else "cpu") as t:
                for images, labels in loader:
                    n += len(labels if tf is None else tf(images, g))
            rows.append(_row("loader", f"{'nvJPEG' if where == 'cuda' else decoder} decode 256², "
                             f"{'paper augmentation' if augment else 'no augmentation'}", n, t.seconds,
                             decoder=decoder, decode_device=where, augment=augment, workers=args.workers))
    return rows


def end_to_end(args, device, made: Made) -> list[dict]:
    """One epoch of the paper recipe by the Trainer, timed from the end of --warmup steps to the last step's."""
    over = {"data": str(made["store"]), "epochs": 1, "batch_size": args.batch_size, "workers": args.workers,
            "device": str(device), "compile": args.compile, "model.num_classes": args.classes}
    data = made["data"] = build_data(resolve_config("paper", over), DistContext(device=device))
    per_epoch, marks = len(data.train_loader), []

    def clock(trainer, step: int) -> None:
        if step in (args.warmup, per_epoch):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            marks.append(time.perf_counter())
    trainer = Trainer(resolve_config("paper", {**over, "max_steps_per_epoch": per_epoch}),
                      tempfile.mkdtemp(prefix="run-", dir=made["work"]), data, ctx=DistContext(device=device),
                      on_step=clock)
    summary = trainer.fit()
    if summary["status"] != "done" or len(marks) != 2:
        raise RuntimeError(f"the end-to-end run stopped early ({summary['status']}) or had ≤ --warmup steps")
    made["trainer"], precision = trainer, "bf16" if trainer.amp_dtype == torch.bfloat16 else "fp32"
    return [_row("end_to_end", f"alexnet2012 {precision}{' compiled' if args.compile else ''}, prepared store + "
                 f"paper augmentation", (per_epoch - args.warmup) * args.batch_size, marks[1] - marks[0],
                 precision=precision, compile=args.compile, channels_last=trainer.channels_last,
                 batch_size=args.batch_size, decode_device=data.train_loader.decode_device,
                 decoder=data.train_loader.decoder, train_loss=summary["history"][-1]["train_loss"],
                 fast_path=summary["fast_path"])]


def evaluation(args, device, made: Made) -> list[dict]:
    """Centre-crop and 10-view evaluation of the trained net over the val split (after a warm-up pass)."""
    trainer, data, rows = made["trainer"], made["data"], []
    for views in (1, 10):
        view_fn = make_view_fn(data.preprocessing, data.mean_image, views=views)

        def run():
            return evaluate_model(trainer.model, data.val_loader, view_fn, device=device,
                                  precision=trainer.precision, progress=False)
        run()
        with common.timer(device) as t:
            n = run()["num_images"]
        rows.append(_row("eval", f"alexnet2012 {'10-view' if views == 10 else 'centre crop'}", n, t.seconds,
                         views=views, seconds_per_50k=50_000 * t.seconds / n))
    return rows


def baseline(args, device, made: Made) -> list[dict]:
    """torchvision's reference recipe, as users run it: ImageFolder + PIL + DataLoader workers, fp32."""
    import torchvision
    from torchvision import transforms as T
    torch.manual_seed(0)
    tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    dataset = torchvision.datasets.ImageFolder(str(made["root"] / "train"), transform=tf)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                         num_workers=args.workers, pin_memory=device.type == "cuda")
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
    with common.timer(device) as t:
        for _ in range(args.baseline_steps):
            step()
    batches.close()
    return [_row("baseline", f"torchvision alexnet fp32, ImageFolder + PIL, {args.workers} workers",
                 args.baseline_steps * args.batch_size, t.seconds, batch_size=args.batch_size, workers=args.workers)]


SECTIONS = {"prepare": jpegs_and_store, "loader": loader_rows, "end_to_end": end_to_end, "eval": evaluation,
            "baseline": baseline}


def run(argv=None, stage=lambda name, fn: fn()) -> dict:
    """The sections not in --skip, each as ``stage(name, fn)`` (``fn`` returns its rows; gpu_check.py records
    a status per section and goes on after a failure); the JPEGs and the store are made whenever a section
    needs them, the end-to-end run whenever the evaluation does."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    sizes = {"images": (8, 40_000, 1_000), "val_images": (4, 5_000, 100), "classes": (2, 100, 10),
             "batch_size": (2, 128, 32), "warmup": (1, 10, 5), "baseline_steps": (1, 100, 10)}
    for name, (quick, gpu, cpu) in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else gpu if device.type == "cuda" else cpu)
    if args.images < (args.warmup + 1) * args.batch_size:
        raise SystemExit(f"error: --images {args.images} is too few for --warmup {args.warmup} steps and one timed "
                         f"step of --batch-size {args.batch_size}")
    start, rows = common.started(device), []
    needed = set(SECTIONS) - set(args.skip) | {"prepare"} | (set() if "eval" in args.skip else {"end_to_end"})
    with tempfile.TemporaryDirectory(prefix="pipeline-") as tmp:
        made = Made(work=args.dir or Path(tmp))
        for name in (s for s in SECTIONS if s in needed):
            got = stage(name, lambda: SECTIONS[name](args, device, made))
            rows += [] if name in args.skip else got
    best = {s: max((r["images_per_s"] for r in rows if r["section"] == s), default=None) for s in SECTIONS}
    ratio = best["end_to_end"] / best["baseline"] if best["end_to_end"] and best["baseline"] else None
    return common.write_result(args, "pipeline", device, start, {"rows": rows, "end_to_end_over_baseline": ratio})


if __name__ == "__main__":
    run()
