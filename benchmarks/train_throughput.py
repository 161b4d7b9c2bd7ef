"""Training and evaluation throughput of AlexNet on one device, against torchvision's recipe.

Run (GPU machine; one run measures everything, ~5–8 minutes on an H100 including data generation)::

    python benchmarks/train_throughput.py                       # writes benchmarks/results/<device>-<date>.json
    python benchmarks/train_throughput.py --quick --out /tmp/q.json     # seconds on a CPU (CI smoke run)
    python benchmarks/train_throughput.py --profile             # adds a per-stage breakdown

What it measures, each in images per second (see docs/BENCHMARKS.md):

1. **model only** — synthetic float tensors already on the device, ``alexnet.train.loop.train_step``
   (the trainer's step: forward under autocast, float32 cross-entropy, backward, SGD step) for
   alexnet2012 and alexnet_owt × batch 128/256 × fp32(TF32)/bf16 × eager/``torch.compile``, with
   the achieved TFLOP/s (3 × 2 × forward MACs per image, MACs from
   :func:`alexnet.models.summary.summarize`) against the device's measured bf16 matmul rate;
2. **end to end** — synthetic ImageNet-like JPEGs → ``alexnet.data.prepare.prepare`` → the
   trainer's own data (:func:`alexnet.train.data.build_data`: ``StoreLoader`` with GPU JPEG
   decoding on CUDA, ``PaperTrainTransform``) → :class:`alexnet.train.loop.Trainer` with the
   paper recipe, timed between two of its steps (``on_step``);
3. **baseline** — torchvision's recipe over the same JPEGs: ``ImageFolder`` + PIL +
   ``RandomResizedCrop(224)`` + flip + ``ToTensor`` + ``Normalize`` + ``DataLoader(num_workers=W,
   pin_memory)`` + ``torchvision.models.alexnet``, fp32, SGD, with the same W;
4. **evaluation** — :func:`alexnet.evaluate.evaluate_model` over the prepared val split with the
   centre crop and the paper's 10 views, reported as seconds per 50,000 images.

The JSON (``--out``) holds ``device``, ``date``, ``versions``, ``command``, the headline numbers
(``model_only_images_per_s``, ``end_to_end_images_per_s``, ``baseline_images_per_s``,
``eval_10view_seconds_per_50k``, …), every measured row in ``configs`` and ``notes``; a JSONL
log of every finished measurement goes beside it (``<out>.log.jsonl``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` beside this file

import common  # noqa: E402

from alexnet.jsonl import JsonlWriter  # noqa: E402

PAPER_IMAGES_PER_S = 240.0  # 2 × GTX 580, 90 epochs of 1.2M images in 5–6 days (SPEC §3)
MAX_PRECISION_LABEL = {"cuda": "tf32", "cpu": "fp32"}
RESULTS_DIR = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto (cuda if present), cuda, cuda:1 or cpu")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON result file (default benchmarks/results/<device>-<date>.json)")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes, 1 timed step per config, no torch.compile: checks the benchmark runs (CI, CPU)")
    p.add_argument("--num-images", type=int, default=None,
                   help="training JPEGs to generate (default 40,000; --quick 6); the end-to-end timing "
                        "covers one epoch over them, so more images give a longer, steadier measurement")
    p.add_argument("--num-val-images", type=int, default=None,
                   help="validation JPEGs for the evaluation timing (default 5,000; --quick 4)")
    p.add_argument("--num-classes", type=int, default=None,
                   help="classes of the generated data (default 100; --quick 2)")
    p.add_argument("--work-dir", type=Path, default=None,
                   help="where the JPEGs and the prepared store live (default $ALEXNET_CACHE/bench or "
                        "~/.cache/alexnet/bench; reused across runs; --quick uses a temporary directory)")
    p.add_argument("--workers", type=int, default=None,
                   help="data workers for both the project's loader and the baseline's DataLoader "
                        "(default: the CPU count, at most 16)")
    p.add_argument("--archs", nargs="+", default=["alexnet2012", "alexnet_owt"],
                   choices=["alexnet2012", "alexnet_owt"], help="model-only architectures")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=None,
                   help="model-only batch sizes (default 128 256; --quick 2)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="end-to-end, baseline and evaluation batch (default 128, the paper's; --quick 2)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per model-only config (default 30; --quick 1)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed steps before each measurement, the first (autotuning, compilation) "
                        "included (default 10; --quick 1)")
    p.add_argument("--baseline-steps", type=int, default=None,
                   help="timed steps of the torchvision baseline (default 100; --quick 1)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    p.add_argument("--e2e-compile", action="store_true",
                   help="end to end with the trainer's compile=true (default: the recipe's eager model)")
    p.add_argument("--skip", nargs="+", default=[], choices=["model", "e2e", "baseline", "eval"],
                   help="sections to leave out")
    p.add_argument("--profile", action="store_true",
                   help="also time each stage of the end-to-end step alone (read+decode+H2D, augment, "
                        "forward+backward, optimizer)")
    args = p.parse_args(argv)
    q = args.quick
    defaults = {"num_images": (6, 40_000), "num_val_images": (4, 5_000), "num_classes": (2, 100),
                "batch_sizes": ([2], [128, 256]), "batch_size": (2, 128), "steps": (1, 30), "warmup": (1, 10),
                "baseline_steps": (1, 100)}
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if q else full)
    args.workers = args.workers if args.workers is not None else min(16, os.cpu_count() or 1)
    args.compile = not (q or args.no_compile)
    if args.num_classes < 2:
        p.error("--num-classes must be at least 2")
    for name in ("num_images", "num_val_images", "batch_size", "steps", "warmup", "baseline_steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.profile and not {"e2e", "eval"} - set(args.skip):
        p.error("--profile times the stages of the end-to-end run: do not --skip both e2e and eval")
    if any(b < 1 for b in args.batch_sizes):
        p.error("--batch-sizes must be positive")
    if args.num_images < args.num_classes:
        p.error(f"--num-images {args.num_images} is fewer than --num-classes {args.num_classes}: "
                f"every class needs an image")
    if args.num_images < (args.warmup + 1) * args.batch_size and {"e2e", "eval"} - set(args.skip):
        p.error(f"--num-images {args.num_images} is too few: the end-to-end run needs at least "
                f"{(args.warmup + 1) * args.batch_size} (--warmup steps and one timed step of --batch-size)")
    return args


# --------------------------------------------------------------------------- helpers


def _macs(arch: str) -> int:
    from alexnet.models.summary import summarize
    return int(summarize(arch, input_size=224)["totals"]["macs"])


def _precision_scope(precision: str):
    """float32 matmuls as TF32 for the "tf32" rows (convolutions use TF32 by PyTorch's default);
    restored afterwards so the baseline runs with PyTorch's defaults."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def scope():
        before = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(before)
    return scope()


def _identity(x, generator=None):
    return x


def _row(section: str, name: str, images_per_s: float, **fields: Any) -> dict[str, Any]:
    return {"section": section, "name": name, "images_per_s": images_per_s, **fields}


def _check_finite(row: dict[str, Any]) -> dict[str, Any]:
    v = row["images_per_s"]
    if not (math.isfinite(v) and v > 0):
        raise RuntimeError(f"{row['section']} {row['name']}: measured {v} images/s — the timing failed")
    return row


# --------------------------------------------------------------------------- model only


def model_only(args, device, log: JsonlWriter, peak_tflops: float) -> list[dict[str, Any]]:
    """Every (arch, batch, precision, compile) row, timed over ``args.steps`` trainer steps."""
    import torch

    rows = []
    precisions = [MAX_PRECISION_LABEL[device.type], "bf16"]
    for arch in args.archs:
        macs = _macs(arch)
        for batch in args.batch_sizes:
            for precision in precisions:
                for compiled in ([False, True] if args.compile else [False]):
                    row = _model_only_row(args, device, arch, batch, precision, compiled, macs, peak_tflops)
                    log.write("result", **row)
                    _print_row(row)
                    rows.append(row)
                    if device.type == "cuda":
                        torch.cuda.empty_cache()  # the next config starts from the same free memory
    return rows


def _model_only_row(args, device, arch: str, batch: int, precision: str, compiled: bool, macs: int,
                    peak_tflops: float) -> dict[str, Any]:
    """One model-only configuration: a fresh net and optimizer of the arch's default recipe,
    one fixed synthetic batch on the device, ``args.warmup`` untimed and ``args.steps`` timed steps."""
    import torch

    from alexnet.models import create
    from alexnet.train.loop import train_step
    from alexnet.train.optim import build_optimizer
    from alexnet.models.registry import default_recipe
    from alexnet.recipes import resolve_config

    cfg = resolve_config(default_recipe(arch), arch=arch)
    channels_last = device.type == "cuda"  # what the trainer's channels_last="auto" does
    torch.manual_seed(0)
    if compiled:
        torch._dynamo.reset()  # each compiled config starts from an empty cache
    model = create(arch, **cfg.model).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, cfg)
    step_model = torch.compile(model) if compiled else model
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, model.num_classes, (batch,), device=device)
    amp = torch.bfloat16 if precision == "bf16" else None

    def step():
        return train_step(step_model, x, y, optimizer, _identity, amp_dtype=amp, channels_last=channels_last)

    with _precision_scope(precision):
        t0 = time.perf_counter()
        step().loss.item()  # first step: cudnn autotuning, compilation
        first_s = time.perf_counter() - t0
        for _ in range(args.warmup - 1):
            step()
        with common.Timer(device) as t:
            for _ in range(args.steps):
                result = step()
    ips = batch * args.steps / t.seconds
    tflops = ips * 6 * macs / 1e12
    return _check_finite(_row(
        "model_only", f"{arch} b{batch} {precision}{' compile' if compiled else ''}", ips,
        arch=arch, batch_size=batch, precision=precision, compile=compiled, channels_last=channels_last,
        steps=args.steps, seconds=t.seconds, first_step_seconds=first_s, tflops=tflops,
        fraction_of_matmul_peak=tflops / peak_tflops, loss_finite=math.isfinite(float(result.loss))))


# --------------------------------------------------------------------------- baseline


def baseline(args, device, jpeg_train: Path, log: JsonlWriter) -> dict[str, Any]:
    """torchvision's reference recipe, as users run it: ImageFolder + PIL + DataLoader workers, fp32."""
    import torch
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision import transforms

    torch.manual_seed(0)
    tf = transforms.Compose([
        transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    dataset = torchvision.datasets.ImageFolder(str(jpeg_train), transform=tf)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        pin_memory=device.type == "cuda", drop_last=True)
    model = torchvision.models.alexnet(weights=None, num_classes=len(dataset.classes)).to(device)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    model.train()

    def batches():
        while True:  # as many epochs as the steps need
            yield from loader

    it = batches()

    def step():
        images, target = next(it)
        images = images.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        output = model(images)
        loss = criterion(output, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(args.warmup):
        step()
    with common.Timer(device) as t:
        for _ in range(args.baseline_steps):
            loss = step()
    it.close()  # shuts the DataLoader's worker processes down before the next section runs
    images = args.baseline_steps * args.batch_size
    row = _check_finite(_row(
        "baseline", f"torchvision alexnet fp32, ImageFolder+PIL, {args.workers} workers", images / t.seconds,
        arch="torchvision.models.alexnet", batch_size=args.batch_size, precision="fp32 (PyTorch defaults)",
        compile=False, workers=args.workers, steps=args.baseline_steps, seconds=t.seconds,
        loss_finite=math.isfinite(float(loss.detach()))))
    log.write("result", **row)
    _print_row(row)
    return row


# --------------------------------------------------------------------------- end to end + eval


def _trainer_config(args, device, store: Path, steps: int, compile_: bool) -> dict[str, Any]:
    from alexnet.recipes import resolve_config
    return resolve_config("paper", overrides={
        "data": str(store), "epochs": 1, "max_steps_per_epoch": steps, "batch_size": args.batch_size,
        "workers": args.workers, "device": str(device), "compile": compile_,
        "model.num_classes": args.num_classes})


class _StepClock:
    """``Trainer(on_step=...)`` hook: marks the end of step ``start`` and of the last step.

    On CUDA the marks are events on the stream (no synchronisation inside the loop), so the
    interval is what the GPU saw from the first timed step to the last, stalls for data included.
    """

    def __init__(self, device, start: int, last: int) -> None:
        import torch
        self.device, self.start, self.last = device, start, last
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.events = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
        self.times: list[float] = []

    def __call__(self, trainer, step: int) -> None:
        if step in (self.start, self.last):
            if self.cuda:
                import torch
                self.events[0 if step == self.start else 1].record(torch.cuda.current_stream(self.device))
            else:
                self.times.append(time.perf_counter())

    @property
    def seconds(self) -> float:
        import torch
        if self.cuda:
            torch.cuda.synchronize(self.device)
            return self.events[0].elapsed_time(self.events[1]) / 1000.0
        return self.times[1] - self.times[0]


def end_to_end(args, device, store: Path, run_dir: Path, log: JsonlWriter, compile_: bool):
    """The trainer itself on the prepared store: returns (row, trainer, data) for the evaluation.

    One epoch of the paper recipe; the clock runs from the end of step ``args.warmup`` to the end
    of the epoch's last step, so the trainer's epoch-end validation and checkpoint fall outside it.
    """
    import torch

    from alexnet.train.data import build_data
    from alexnet.train.distributed import DistContext
    from alexnet.train.loop import Trainer

    probe = _trainer_config(args, device, store, 1, compile_)
    data = build_data(probe, DistContext(device=device))
    per_epoch = len(data.train_loader)
    start = args.warmup
    if per_epoch <= start:
        raise ValueError(f"the prepared store gives {per_epoch} batches of {args.batch_size}; the end-to-end "
                         f"timing needs more than {start}: raise --num-images")
    cfg = _trainer_config(args, device, store, per_epoch, compile_)
    clock = _StepClock(device, start, per_epoch)
    trainer = Trainer(cfg, run_dir, data, ctx=DistContext(device=device), on_step=clock)
    summary = trainer.fit()
    if summary["status"] != "done":
        raise RuntimeError(f"the end-to-end training run stopped early: {summary['status']}")
    steps = per_epoch - start
    ips = steps * args.batch_size / clock.seconds
    amp = "bf16" if trainer.amp_dtype == torch.bfloat16 else "fp32"
    row = _check_finite(_row(
        "end_to_end", f"alexnet2012 {amp}{' compile' if compile_ else ''}, prepared store + paper augmentation",
        ips, arch="alexnet2012", batch_size=args.batch_size, precision=amp, compile=compile_,
        channels_last=trainer.channels_last, workers=args.workers, steps=steps, seconds=clock.seconds,
        decode_device=data.train_loader.decode_device, decoder=data.train_loader.decoder,
        train_loss=summary["history"][-1]["train_loss"]))
    log.write("result", **row)
    _print_row(row)
    return row, trainer, data


def evaluation(args, device, trainer, data, log: JsonlWriter) -> list[dict[str, Any]]:
    """Centre-crop and 10-view evaluation of the trained net over the val split."""
    from alexnet.data.views import make_view_fn
    from alexnet.evaluate import evaluate_model

    rows = []
    mean_image = data.mean_image
    for views in (1, 10):
        view_fn = make_view_fn(data.preprocessing, mean_image, views=views)

        def run():
            return evaluate_model(trainer.model, data.val_loader, view_fn, device=device,
                                  amp_dtype=trainer.amp_dtype, progress=False)

        run()  # warm-up: cudnn autotuning for the eval shapes, the store in the page cache
        with common.Timer(device) as t:
            result = run()
        n = result["num_images"]
        ips = n / t.seconds
        row = _check_finite(_row(
            "eval", f"alexnet2012 {'10-view' if views == 10 else 'centre crop'}", ips, arch="alexnet2012",
            views=views, batch_size=args.batch_size, images=n, seconds=t.seconds,
            seconds_per_50k=50_000 / ips, precision="bf16" if trainer.amp_dtype is not None else "fp32"))
        log.write("result", **row)
        _print_row(row)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- per-stage profile


def profile_stages(args, device, trainer, data, log: JsonlWriter) -> list[dict[str, Any]]:
    """Each stage of the end-to-end step alone, in images/s (the slowest bounds the whole)."""
    import torch
    import torch.nn.functional as F

    loader, transform, model, optimizer = data.train_loader, data.train_transform, trainer.train_model, \
        trainer.optimizer
    n = min(len(loader), args.warmup + 1 + args.steps)
    rows = []

    def record(name: str, seconds: float, images: int, what: str) -> None:
        row = _check_finite(_row("stage", name, images / seconds, seconds=seconds, images=images,
                                 batch_size=args.batch_size, what=what))
        log.write("result", **row)
        _print_row(row)
        rows.append(row)

    loader.set_epoch(1)
    it = iter(loader)
    for _ in range(args.warmup):
        next(it)
    with common.Timer(device) as t:
        batches = [next(it) for _ in range(n - args.warmup)]
    it.close()  # stops the loader's read-ahead threads
    record("read + decode + H2D (StoreLoader)", t.seconds, len(batches) * args.batch_size,
           f"{loader.decoder if loader.decode_device == 'cpu' else 'nvJPEG'} on {loader.decode_device}, "
           f"{args.workers} workers")
    images, labels = batches[0][0].to(device), batches[0][1].to(device)
    del batches
    g = torch.Generator()  # on the CPU, as the trainer's (numbers drawn there, moved to the images)
    for _ in range(args.warmup):
        transform(images, generator=g)
    with common.Timer(device) as t:
        for _ in range(args.steps):
            x = transform(images, generator=g)
    record("augment (PaperTrainTransform)", t.seconds, args.steps * args.batch_size, "crop, flip, lighting, mean")
    if trainer.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def fwd_bwd():
        with torch.autocast(device_type=device.type, dtype=trainer.amp_dtype or torch.float32,
                            enabled=trainer.amp_dtype is not None):
            logits = model(x)
        F.cross_entropy(logits.float(), labels).backward()

    for _ in range(args.warmup):
        fwd_bwd()
    with common.Timer(device) as t:
        for _ in range(args.steps):
            fwd_bwd()
    record("forward + backward", t.seconds, args.steps * args.batch_size, "autocast as the trainer")
    with common.Timer(device) as t:
        for _ in range(args.steps):
            optimizer.step()
    record("optimizer step (SGD)", t.seconds, args.steps * args.batch_size, "per batch")
    optimizer.zero_grad(set_to_none=True)
    return rows


# --------------------------------------------------------------------------- output


def _print_row(row: dict[str, Any]) -> None:
    extra = ""
    if "tflops" in row:
        extra = f"  {row['tflops']:8.2f} TFLOP/s ({100 * row['fraction_of_matmul_peak']:.0f}% of matmul peak)"
    if "seconds_per_50k" in row:
        extra = f"  {row['seconds_per_50k']:8.1f} s per 50k images"
    print(f"  {row['section']:<10} {row['name']:<64} {row['images_per_s']:>10.1f} img/s{extra}", flush=True)


def _num(v: float) -> str:
    """Three significant figures, thousands separated: 25,312 / 412 / 3.14 / 0.0123."""
    if v == 0 or not math.isfinite(v):
        return str(v)
    digits = max(0, 2 - int(math.floor(math.log10(abs(v)))))
    return f"{v:,.{digits}f}"


def format_table(result: dict[str, Any]) -> str:
    """The rows as a Markdown table: images/s, ratios to the baseline and to the paper, TFLOP/s."""
    base = result.get("baseline_images_per_s")
    lines = [f"Device: {result['device']} — {result['date']} — torch {result['versions']['torch']}", "",
             "| section | configuration | batch | images/s | × baseline | × paper (240/s) | TFLOP/s | s per 50k |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["configs"]:
        ratio = _num(r["images_per_s"] / base) if base and r["section"] in ("model_only", "end_to_end",
                                                                             "baseline") else ""
        paper = _num(r["images_per_s"] / PAPER_IMAGES_PER_S) if r["section"] in ("model_only", "end_to_end",
                                                                                 "baseline") else ""
        tflops = _num(r["tflops"]) if "tflops" in r else ""
        s50k = _num(r["seconds_per_50k"]) if "seconds_per_50k" in r else ""
        lines.append(f"| {r['section']} | {r['name']} | {r.get('batch_size', '')} | {_num(r['images_per_s'])} | "
                     f"{ratio} | {paper} | {tflops} | {s50k} |")
    return "\n".join(lines)


def summarize_result(result: dict[str, Any]) -> None:
    """Fill the headline keys from the rows (None where the section was skipped)."""
    rows = result["configs"]

    def best(section: str, **match) -> float | None:
        vals = [r["images_per_s"] for r in rows if r["section"] == section
                and all(r.get(k) == v for k, v in match.items())]
        return max(vals) if vals else None

    result["model_only_images_per_s"] = best("model_only", arch="alexnet2012", precision="bf16")
    result["end_to_end_images_per_s"] = best("end_to_end")
    result["baseline_images_per_s"] = best("baseline")
    for views, key in ((10, "eval_10view_seconds_per_50k"), (1, "eval_centre_seconds_per_50k")):
        vals = [r["seconds_per_50k"] for r in rows if r["section"] == "eval" and r["views"] == views]
        result[key] = min(vals) if vals else None
    e2e, mo, base = result["end_to_end_images_per_s"], result["model_only_images_per_s"], \
        result["baseline_images_per_s"]
    result["ratios"] = {
        "end_to_end_over_baseline": e2e / base if e2e and base else None,
        "end_to_end_over_model_only": e2e / mo if e2e and mo else None,
        "end_to_end_over_paper": e2e / PAPER_IMAGES_PER_S if e2e else None,
        "imagenet_90_epochs_minutes": 90 * 1_281_167 / e2e / 60 if e2e else None,
    }


def default_out(device_name: str) -> Path:
    return RESULTS_DIR / f"{common.slug(device_name)}-{common.today()}.json"


# --------------------------------------------------------------------------- main


def run(args) -> tuple[dict[str, Any], Path]:
    """Measure every section ``args`` asks for; returns the result and the JSON path written."""
    import torch

    from alexnet.data.open import cache_dir
    from alexnet.device import resolve_device

    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    name = common.device_name(device)
    out = args.out or default_out(name)
    log = JsonlWriter(out.with_name(out.name + ".log.jsonl") if out.suffix != ".json"
                          else out.with_suffix(".log.jsonl"))
    log.write("start", command=common.command_line(), device=name)
    tmp = tempfile.TemporaryDirectory(prefix="alexnet-bench-") if args.quick and args.work_dir is None else None
    work = Path(tmp.name) if tmp else (args.work_dir or cache_dir() / "bench")
    work.mkdir(parents=True, exist_ok=True)
    cleanup = [tmp] if tmp else []
    notes: list[str] = []
    result: dict[str, Any] = {
        "device": name, "date": common.today(), "time": common.now_iso(), "quick": args.quick,
        "command": common.command_line(), "versions": common.versions(), "device_info": common.device_info(device),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "paper_images_per_s": PAPER_IMAGES_PER_S, "configs": [], "notes": notes}
    try:
        print(f"device: {name}; torch {torch.__version__}; work dir {work}", flush=True)
        peak = common.matmul_peak_tflops(device)
        result["matmul_peak"] = peak
        print(f"  measured {peak['dtype']} matmul ({peak['size']}²): {peak['tflops']:.2f} TFLOP/s", flush=True)
        log.write("matmul_peak", **peak)
        notes.append("Timing: CUDA events around the timed steps (host stalls waiting for data count), after "
                     "warm-up steps (the first includes cudnn autotuning and compilation); perf_counter on a CPU. "
                     "End to end is alexnet.train.loop.Trainer itself, timed between its steps through on_step "
                     "(its periodic loss check every log_interval steps included).")
        if device.type != "cuda":
            notes.append("CPU run: the matmul peak is float32 (CPUs rarely have a fast bf16 path), and the "
                         "end-to-end and evaluation rows run in float32 (the trainer's amp=auto).")
        if args.quick:
            notes.append(f"--quick: {args.num_images} images, batch {args.batch_size}, {args.steps} timed steps "
                         f"per config; a smoke test of the benchmark, not a measurement to quote.")
        if "model" not in args.skip:
            result["configs"] += model_only(args, device, log, peak["tflops"])
        need_jpegs = {"e2e", "baseline", "eval"} - set(args.skip)
        if need_jpegs:
            jpeg_root = work / f"jpegs-{args.num_images}-{args.num_val_images}-{args.num_classes}"
            t0 = time.perf_counter()
            train_m = common.write_synthetic_jpegs(jpeg_root / "train", args.num_images, args.num_classes,
                                                   seed=0, workers=args.workers)
            common.write_synthetic_jpegs(jpeg_root / "val", args.num_val_images, args.num_classes, seed=1,
                                         workers=args.workers)
            result["data"] = {"jpeg_root": str(jpeg_root), "train_images": args.num_images,
                              "val_images": args.num_val_images, "classes": args.num_classes,
                              "mean_jpeg_bytes": train_m["mean_bytes"],
                              "generate_seconds": time.perf_counter() - t0}
            notes.append(f"Data: {args.num_images} synthetic photograph-like JPEGs (mostly 500×375, mean "
                         f"{train_m['mean_bytes'] / 1024:.0f} KiB) in {args.num_classes} classes, read from the "
                         f"page cache (they were just written or read), as a warm ImageNet on a large-memory "
                         f"machine would be.")
        if "baseline" not in args.skip:
            result["configs"].append(baseline(args, device, jpeg_root / "train", log))
        if {"e2e", "eval"} - set(args.skip):
            from alexnet.data.prepare import prepare
            store = work / f"store-{args.num_images}-{args.num_val_images}-{args.num_classes}"
            t0 = time.perf_counter()
            prepare(jpeg_root, store, split="all", workers=args.workers, progress=sys.stderr.isatty())
            result["data"]["store"] = str(store)
            result["data"]["prepare_seconds"] = time.perf_counter() - t0
            run_dir = tempfile.TemporaryDirectory(prefix="run-", dir=work)
            cleanup.append(run_dir)
            row, trainer, data = end_to_end(args, device, store, Path(run_dir.name), log, args.e2e_compile)
            if "e2e" not in args.skip:
                result["configs"].append(row)
            if "eval" not in args.skip:
                result["configs"] += evaluation(args, device, trainer, data, log)
            if args.profile:
                result["configs"] += profile_stages(args, device, trainer, data, log)
    finally:
        for d in reversed(cleanup):
            d.cleanup()
    summarize_result(result)
    common.write_json(out, result)
    log.write("end", out=str(out))
    log.close()
    return result, out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result, out = run(args)
    print()
    print(format_table(result))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
