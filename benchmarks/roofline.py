"""The training step against this machine's limit: the fp32 and bf16 matrix-product peaks, then the
step per arch × batch × precision × memory format × torch.compile, its FLOP/s as a fraction of each
peak, and where its time goes, layer by layer (alexnet.train.profile). ``--lrn`` adds what the paper's LRN
costs: the layer alone (ours and torch.nn.LocalResponseNorm, forward and backward) and, beside each
row of a net with LRN, the same step without it, with torch's in its place and with torch's unfused
SGD (headline ``step_lrn_over_no_lrn``, target ≥ 0.85). docs/BENCHMARKS.md has the details.

    python benchmarks/roofline.py                      # the demo's step on this CPU (src/alexnet/demo.py)
    python benchmarks/roofline.py --setting imagenet --archs alexnet2012 alexnet_owt --batch-sizes 128 256
    python benchmarks/roofline.py --lrn --compile eager --profile-steps 0      # the LRN's cost (was lrn.py)
    python benchmarks/roofline.py --quick --out /tmp/r.json        # tiny shapes, seconds (CI)
"""

import itertools
import math
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import torch

import common
from alexnet.data.synthetic import write_fashion_idx
from alexnet.demo import demo_config
from alexnet.device import resolve_device
from alexnet.models import LocalResponseNorm
from alexnet.models.registry import default_recipe
from alexnet.models.summary import step_flops
from alexnet.recipes import resolve_config
from alexnet.train.data import build_data
from alexnet.train.distributed import DistContext
from alexnet.train.loop import Trainer, train_step
from alexnet.train.profile import profiled_input, step_breakdown
from alexnet.train.runner import complete_model_args

BF16 = "bf16"
#: The --lrn variants beside the net as built ("default"): lrn=False, torch.nn.LocalResponseNorm in place of
#: ours, and torch's default SGD in place of the fused one that build_optimizer makes.
VARIANTS = ("no_lrn", "torch_lrn", "unfused_sgd")
TORCH_LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}    # torch.nn.LocalResponseNorm with the paper's values


def parse_args(argv=None):
    p = common.parser(__doc__, "roofline", "batch 4, one step, eager, small peak: checks it runs")
    p.add_argument("--device", default="auto")
    p.add_argument("--setting", choices=["demo", "imagenet"], default=None, help="default: demo on a CPU")
    p.add_argument("--archs", nargs="+", default=["alexnet2012"])
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[128])
    p.add_argument("--precisions", nargs="+", choices=["fp32", BF16], default=["fp32", BF16])
    p.add_argument("--memory-formats", nargs="+", choices=["contiguous", "channels_last"], default=None,
                   help="default: both on a CPU, channels_last on CUDA")
    p.add_argument("--compile", choices=["eager", "compiled", "both"], default="both")
    p.add_argument("--lrn", action="store_true", help="the LRN layer's rows and the steps without it (see above)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per repeat")
    p.add_argument("--repeats", type=int, default=3, help="timings per row; the best is reported")
    p.add_argument("--profile-steps", type=int, default=2, help="profiled steps per eager row (0: none)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_sizes, args.steps, args.repeats, args.compile = [4], 1, 1, "eager"
        args.profile_steps = min(args.profile_steps, 1)
    return args


def build(device, work: Path, setting: str, arch: str, batch: int, precision: str = "fp32",
          memory_format: str = "contiguous", compiled: bool = False, variant: str = "default") -> SimpleNamespace:
    """The Trainer of the row's config (its eager ``model``, ``train_model``, optimizer, precision), one
    batch for it (the demo's through its input path), that input path (``transform``), whether the net has
    an LRN (``lrn``) and ``step(transform)``: ``train_step`` once on the batch, as the Trainer runs it."""
    over = {"amp": "bf16" if precision == BF16 else "off", "channels_last": memory_format == "channels_last",
            "compile": compiled, "batch_size": batch, "workers": 0, "device": str(device), "arch": arch,
            **({"model.lrn": False} if variant == "no_lrn" else {})}
    if setting == "demo":
        data_dir = str(write_fashion_idx(work / "fm", n_train=batch, n_test=batch))
        cfg = demo_config(data_dir, "cpu", str(device), {**over, "holdout": 0})   # no validation split: steps only
        data = build_data(cfg)
        cfg = complete_model_args(cfg, data)
        images, labels = next(iter(data.train_loader))
    else:
        cfg = resolve_config(default_recipe(arch), {k: v for k, v in over.items() if k != "arch"}, arch=arch)
        data = SimpleNamespace(num_classes=cfg.model.get("num_classes", 1000), train_loader=range(1),
                               train_transform=lambda x, generator=None: x)
        g = torch.Generator().manual_seed(0)
        images = torch.randn(batch, 3, 224, 224, generator=g)
        labels = torch.randint(0, data.num_classes, (batch,), generator=g)
    trainer = Trainer(cfg, work / "run", data, ctx=DistContext(device=torch.device(cfg.device)))
    if variant == "torch_lrn":
        trainer.model.features.norm1 = torch.nn.LocalResponseNorm(**TORCH_LRN)
        trainer.model.features.norm2 = torch.nn.LocalResponseNorm(**TORCH_LRN)
    if variant == "unfused_sgd":
        trainer.optimizer = torch.optim.SGD([{**group, "fused": None, "foreach": None} for group in
                                             trainer.optimizer.param_groups], lr=cfg.lr, momentum=cfg.momentum)
    lrn = any(isinstance(m, (LocalResponseNorm, torch.nn.LocalResponseNorm)) for m in trainer.model.modules())
    bench = SimpleNamespace(trainer=trainer, images=images.to(device), labels=labels.to(device),
                            transform=data.train_transform, lrn=lrn)
    bench.step = lambda transform=bench.transform: train_step(
        trainer.train_model, bench.images, bench.labels, trainer.optimizer, transform, generator=trainer.generator,
        amp_dtype=trainer.amp_dtype, channels_last=trainer.channels_last)
    return bench


def peaks(device, batch: int, model: torch.nn.Module, size: int) -> dict[str, dict[str, float]]:
    """TFLOP/s per dtype of a ``size``² square product and of fc6's and fc7's forward products."""
    linear = {name.split(".")[-1]: m for name, m in model.named_modules()
              if isinstance(m, torch.nn.Linear) and m.out_features >= 4096}
    shapes = {"square": (size, size, size), **{n: (batch, m.in_features, m.out_features) for n, m in linear.items()}}
    return {dtype: {n: common.matmul_tflops(device, *s, getattr(torch, "bfloat16" if dtype == BF16 else "float32"))
                    for n, s in shapes.items()} for dtype in ("fp32", BF16)}


def row(args, spec: dict, device, work: Path, peak: dict) -> dict:
    """Build, count, time (and profile, when eager) one configuration; print it."""
    if spec["compiled"]:
        torch._dynamo.reset()
    torch.manual_seed(0)
    bench = build(device, work, **spec)
    flops = step_flops(bench.trainer.model, bench.transform(bench.images), bench.labels)
    t0 = time.perf_counter()
    loss = float(bench.step().loss)                # the first step: compilation, oneDNN's first kernels
    first = time.perf_counter() - t0
    seconds = common.best_seconds(device, bench.step, args.steps, args.repeats, warmup=1)
    tflops = flops / seconds / 1e12
    out = {**{k: v for k, v in spec.items() if k not in ("batch", "compiled")}, "batch_size": spec["batch"],
           "compile": spec["compiled"], "input_size": bench.trainer.cfg.input_size, "lrn": bench.lrn,
           "images_per_s": spec["batch"] / seconds, "ms_per_step": 1000 * seconds, "first_step_seconds": first,
           "flops_per_step": flops, "tflops": tflops, "loss_finite": math.isfinite(loss),
           "fraction_of_peak": {k: tflops / v for k, v in peak[spec["precision"]].items()}}
    if args.profile_steps and not spec["compiled"]:
        out["breakdown"] = step_breakdown(bench.trainer.model, lambda: bench.step(profiled_input(bench.transform)),
                                          args.profile_steps)
    print(f"  {out['arch']} b{out['batch_size']} {out['precision']} {out['memory_format']} "
          f"{'compiled' if out['compile'] else 'eager'} {out['variant']}: {out['images_per_s']:.1f} "
          f"img/s, {out['ms_per_step']:.1f} ms, {tflops:.3f} TFLOP/s, first step {first:.1f} s", flush=True)
    return out


def lrn_layer(args, device, batch: int, input_size: int) -> dict:
    """Our LRN (2 towers) and torch's (1 group) alone, forward and backward in float32, on conv1's maps
    (cuda-convnet's ceil rule): seconds per call of each."""
    side = math.ceil((input_size - 11) / 4) + 1
    x0 = torch.rand(batch, 96, side, side, device=device) * 20
    out = {"batch_size": batch, "shape": list(x0.shape)}
    for name, layer in (("ours", LocalResponseNorm(groups=2)), ("torch", torch.nn.LocalResponseNorm(**TORCH_LRN))):
        x, grad = x0.clone().requires_grad_(), torch.ones_like(x0)

        def step():
            x.grad = None
            layer(x).backward(grad)
        out[f"{name}_seconds"] = common.best_seconds(device, step, args.steps, args.repeats, warmup=2)
    out["ours_over_torch"] = out["torch_seconds"] / out["ours_seconds"]
    print(f"  LRN layer alone, b{batch}: ours {1e3 * out['ours_seconds']:.2f} ms, torch's "
          f"{1e3 * out['torch_seconds']:.2f} ms ({out['ours_over_torch']:.2f}×)", flush=True)
    return out


def run(argv=None) -> dict:
    args = parse_args(argv)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    setting = args.setting or ("imagenet" if device.type == "cuda" else "demo")
    formats = args.memory_formats or (["channels_last"] if device.type == "cuda" else ["contiguous", "channels_last"])
    compiles = {"eager": [False], "compiled": [True], "both": [False, True]}[args.compile]
    start, rows, peak_rows, layer, ratios = common.started(device), [], {}, [], {}
    with tempfile.TemporaryDirectory(prefix="roofline-") as work, \
            mock.patch.dict(os.environ, {"ALEXNET_CACHE": str(Path(work) / "cache")}):   # the demo data's store
        for arch, batch in itertools.product(args.archs, args.batch_sizes):
            probe = build(device, Path(work) / "probe", setting, arch, batch, memory_format=formats[0])
            size = 256 if args.quick else 8192 if device.type == "cuda" else 2048      # the square product's side
            peak = peak_rows[f"{arch} b{batch}"] = peaks(device, batch, probe.trainer.model, size)
            print(f"{arch} b{batch} peaks (TFLOP/s): " + "; ".join(
                f"{d}: " + ", ".join(f"{k} {v:.3f}" for k, v in p.items()) for d, p in peak.items()), flush=True)
            variants = ["default"] + (list(VARIANTS) if args.lrn and probe.lrn else [])
            if len(variants) > 1:
                layer.append(lrn_layer(args, device, batch, probe.trainer.cfg.input_size))
            for precision, fmt, compiled in itertools.product(args.precisions, formats, compiles):
                by = {}
                for variant in variants:
                    spec = dict(setting=setting, arch=arch, batch=batch, precision=precision, memory_format=fmt,
                                compiled=compiled, variant=variant)
                    rows.append(row(args, spec, device, Path(work) / f"r{len(rows)}", peak))
                    by[variant] = rows[-1]["images_per_s"]
                if len(variants) > 1:
                    key = f"{arch} b{batch} {precision} {fmt} {'compiled' if compiled else 'eager'}"
                    ratios[key] = {"step_lrn_over_no_lrn": by["default"] / by["no_lrn"],
                                   "step_torch_lrn_over_no_lrn": by["torch_lrn"] / by["no_lrn"],
                                   "step_fused_sgd_over_unfused": by["default"] / by["unfused_sgd"]}
                    print(f"  {key}: step with LRN / without {ratios[key]['step_lrn_over_no_lrn']:.3f} (target ≥ 0.85)")
    result = {"setting": setting, "peaks_tflops": peak_rows, "rows": rows}
    return common.write_result(args, "roofline", device, start, {**result, "lrn": {"layer": layer, "ratios": ratios}}
                               if args.lrn else result)


if __name__ == "__main__":
    run()
