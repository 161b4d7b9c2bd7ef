"""The training step against this machine's limit: the fp32 and bf16 matrix-product peaks, then the
step per arch × batch × precision × memory format × torch.compile, its FLOP/s as a fraction of each
peak, and where its time goes, layer by layer (torch.profiler). docs/BENCHMARKS.md has the details.

    python benchmarks/roofline.py                      # the demo's step on this CPU (src/alexnet/demo.py)
    python benchmarks/roofline.py --setting imagenet --archs alexnet2012 alexnet_owt --batch-sizes 128 256
    python benchmarks/roofline.py --quick --out /tmp/r.json        # tiny shapes, seconds (CI)
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import torch
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.flop_counter import FlopCounterMode

import common

BF16 = "bf16"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--setting", choices=["demo", "imagenet"], default=None, help="default: demo on a CPU")
    p.add_argument("--archs", nargs="+", default=["alexnet2012"])
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[128])
    p.add_argument("--precisions", nargs="+", choices=["fp32", BF16], default=["fp32", BF16])
    p.add_argument("--memory-formats", nargs="+", choices=["contiguous", "channels_last"], default=None,
                   help="default: both on a CPU, channels_last on CUDA")
    p.add_argument("--compile", choices=["eager", "compiled", "both"], default="both")
    p.add_argument("--steps", type=int, default=5, help="timed steps per repeat")
    p.add_argument("--repeats", type=int, default=3, help="timings per row; the best is reported")
    p.add_argument("--profile-steps", type=int, default=2, help="profiled steps per eager row (0: none)")
    p.add_argument("--peak-size", type=int, default=None, help="the square product's side (2048 CPU, 8192 CUDA)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="batch 4, one step, eager, small peak: checks it runs")
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/results/roofline-<device>-<date>.json")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_sizes, args.steps, args.repeats, args.compile = [4], 1, 1, "eager"
        args.peak_size, args.profile_steps = args.peak_size or 256, min(args.profile_steps, 1)
    return args


class Bench(NamedTuple):
    """One row: the Trainer (its eager ``model``, ``train_model``, optimizer, precision), a batch
    and the input path."""
    trainer: Any
    images: torch.Tensor
    labels: torch.Tensor
    transform: Any

    def step_fn(self, transform=None):
        """``train_step`` once on the batch, as the Trainer runs it."""
        from alexnet.train.loop import train_step
        t = self.trainer
        return lambda: train_step(t.train_model, self.images, self.labels, t.optimizer, transform or self.transform,
                                  generator=t.generator, amp_dtype=t.amp_dtype, channels_last=t.channels_last)


def _trainer(cfg, data, work: Path):
    from alexnet.train.distributed import DistContext
    from alexnet.train.loop import Trainer
    return Trainer(cfg, work / "run", data, ctx=DistContext(device=torch.device(cfg.device)))


def build(setting: str, arch: str, batch: int, precision: str, memory_format: str, compiled: bool,
          device: torch.device, work: Path) -> Bench:
    """The Trainer of the row's config and one batch for it (the demo's through its input path)."""
    from alexnet.data.synthetic import write_fashion_idx
    from alexnet.demo import demo_config
    from alexnet.models.registry import default_recipe
    from alexnet.recipes import resolve_config
    from alexnet.train.data import build_data
    from alexnet.train.runner import complete_model_args

    over = {"amp": "bf16" if precision == BF16 else "off", "channels_last": memory_format == "channels_last",
            "compile": compiled, "batch_size": batch, "workers": 0, "device": str(device), "arch": arch}
    if setting == "demo":
        data_dir = write_fashion_idx(work / "fm", n_train=batch, n_test=batch)
        cfg = demo_config(str(data_dir), "cpu", str(device), {**over, "holdout": 0})   # no validation split: steps only
        data = build_data(cfg)
        cfg = complete_model_args(cfg, data)
        images, labels = next(iter(data.train_loader))
        transform = data.train_transform
    else:
        cfg = resolve_config(default_recipe(arch), {k: v for k, v in over.items() if k != "arch"}, arch=arch)
        data = SimpleNamespace(num_classes=cfg.model.get("num_classes", 1000), train_loader=range(1))
        g = torch.Generator().manual_seed(0)
        images = torch.randn(batch, 3, 224, 224, generator=g)
        labels = torch.randint(0, data.num_classes, (batch,), generator=g)

        def transform(x, generator=None):
            return x
    return Bench(_trainer(cfg, data, work), images.to(device), labels.to(device), transform)


def _conv_backward_flops(grad_out, x, w, bias, stride, padding, dilation, transposed, out_pad, groups, mask,
                         out_shape, **kw) -> int:
    """torch's formula, with the weight gradient of a grouped convolution divided by the groups
    (torch 2.14's counts it as if the convolution were not grouped: 2× for conv2, conv4, conv5)."""
    from torch.utils.flop_counter import conv_backward_flop as wrapped
    conv_backward_flop = wrapped.__wrapped__            # the formula on shapes
    args = (grad_out, x, w, bias, stride, padding, dilation, transposed, out_pad, groups)
    return (conv_backward_flop(*args, [mask[0], False, False], out_shape)
            + conv_backward_flop(*args, [False, mask[1], False], out_shape) // groups)


def step_flops(bench: Bench) -> int:
    """FLOPs of one training step's forward and backward (torch.utils.flop_counter: matrix
    products and convolutions; the few elementwise FLOPs of LRN, ReLU and pooling are not counted)."""
    import torch.nn.functional as F
    model = bench.trainer.model
    mapping = {torch.ops.aten.convolution_backward: _conv_backward_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        F.cross_entropy(model(bench.transform(bench.images)).float(), bench.labels).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def peaks(device, batch: int, model: torch.nn.Module, size: int) -> dict[str, dict[str, float]]:
    """TFLOP/s per dtype of a ``size``² square product and of fc6's and fc7's forward products."""
    linear = {name.split(".")[-1]: m for name, m in model.named_modules()
              if isinstance(m, torch.nn.Linear) and m.out_features >= 4096}
    shapes = {"square": (size, size, size), **{n: (batch, m.in_features, m.out_features) for n, m in linear.items()}}
    return {dtype: {n: common.matmul_tflops(device, *s, getattr(torch, "bfloat16" if dtype == BF16 else "float32"))
                    for n, s in shapes.items()} for dtype in ("fp32", BF16)}


def _seq(t) -> int | None:
    fn = getattr(t, "grad_fn", None)
    return fn._sequence_nr() if fn is not None else None


def breakdown(bench: Bench, device, steps: int) -> dict[str, dict[str, float]]:
    """Milliseconds per step: each leaf layer's forward and backward, input, optimizer, other.

    A layer's backward is the autograd nodes its forward created: nodes are numbered in creation
    order, so the number of the layer's output node (and a marker node at each forward's start)
    bounds them; the profiler's ``evaluate_function`` events carry those numbers."""
    bounds: list[tuple[int, str]] = []
    marker = torch.zeros(1, requires_grad=True)
    hooks, open_ranges = [], {}

    def start(mod, inp):
        bounds.append((_seq(marker * 1), "(start)"))

    def pre(name):
        def hook(mod, inp):
            open_ranges[name] = record_function(f"fwd:{name}").__enter__()
        return hook

    def post(name):
        def hook(mod, inp, out):
            open_ranges.pop(name).__exit__(None, None, None)
            if _seq(out) is not None:
                bounds.append((_seq(out), name))
        return hook
    model, step = bench.trainer.model, bench.step_fn(_input_range(bench.transform))
    hooks.append(model.register_forward_pre_hook(start))
    for full, m in model.named_modules():
        if full and not list(m.children()):
            name = full.split(".")[-1]
            hooks += [m.register_forward_pre_hook(pre(name)), m.register_forward_hook(post(name))]
    cuda = torch.device(device).type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    try:
        with profile(activities=activities) as prof:
            for _ in range(steps):
                with record_function("step"):
                    step()
            if cuda:
                torch.cuda.synchronize()
    finally:
        for h in hooks:
            h.remove()
    return _attribute(prof.events(), sorted(bounds), steps, cuda)


def _owner(seq: int, bounds: list[tuple[int, str]]) -> str:
    """The layer whose forward made node ``seq``: the first bound at or after it ("loss" after fc8)."""
    import bisect
    i = bisect.bisect_left(bounds, (seq, ""))
    if i == len(bounds) or bounds[i][1] == "(start)":
        return "loss"
    return bounds[i][1]


def _attribute(events, bounds, steps: int, cuda: bool) -> dict[str, dict[str, float]]:
    def ms(e) -> float:
        return (e.device_time_total if cuda else e.cpu_time_total) / 1000.0 / steps
    out: dict[str, dict[str, float]] = {}

    def add(name: str, part: str | None, value: float) -> None:
        row = out.setdefault(name, {"ms": 0.0} if part is None else {"ms": 0.0, "forward_ms": 0.0, "backward_ms": 0.0})
        row["ms"] += value
        if part is not None:
            row[part] += value
    total = 0.0
    for e in events:
        if e.name == "step":
            total += ms(e)
        elif e.name.startswith("fwd:"):
            add(e.name[4:], "forward_ms", ms(e))
        elif e.name.startswith("autograd::engine::evaluate_function: "):
            node = e.name.split(": ", 1)[1]
            owner = "grad accumulation" if "AccumulateGrad" in node else _owner(e.sequence_nr, bounds)
            add(owner, "backward_ms", ms(e))
        elif e.name.startswith(("Optimizer.step#", "Optimizer.zero_grad#")):
            add("optimizer", None, ms(e))
        elif e.name == "input":
            add("input", None, ms(e))
    out["other"] = {"ms": total - sum(v["ms"] for v in out.values())}
    return {"step_ms": total, "parts": out}


def _input_range(inner):
    """The input path inside a profiler range named "input"."""
    def transform(x, generator=None):
        with record_function("input"):
            return inner(x, generator=generator)
    return transform


def row(args, setting, arch, batch, precision, memory_format, compiled, device, work, peak) -> dict[str, Any]:
    """Build, count, time (and profile, when eager) one configuration."""
    if compiled:
        torch._dynamo.reset()
    torch.manual_seed(0)
    bench = build(setting, arch, batch, precision, memory_format, compiled, device, work)
    flops = step_flops(bench)
    step = bench.step_fn()
    t0 = time.perf_counter()
    loss = float(step().loss)                      # the first step: compilation, oneDNN's first kernels
    first = time.perf_counter() - t0
    seconds = common.best_seconds(device, step, args.steps, args.repeats, warmup=1)
    tflops = flops / seconds / 1e12
    ref = peak[BF16 if precision == BF16 else "fp32"]
    out = {"arch": arch, "setting": setting, "batch_size": batch, "precision": precision,
           "memory_format": memory_format, "compile": compiled, "images_per_s": batch / seconds,
           "ms_per_step": 1000 * seconds, "first_step_seconds": first, "flops_per_step": flops,
           "tflops": tflops, "fraction_of_peak": {k: tflops / v for k, v in ref.items()},
           "loss_finite": math.isfinite(loss)}
    if args.profile_steps and not compiled:
        out["breakdown"] = breakdown(bench, device, args.profile_steps)
    return out


def print_row(r: dict[str, Any]) -> None:
    frac = ", ".join(f"{100 * v:.1f}% of {k}" for k, v in r["fraction_of_peak"].items())
    how = "compiled" if r["compile"] else "eager"
    print(f"  {r['arch']} b{r['batch_size']} {r['precision']} {r['memory_format']} {how}:"
          f" {r['images_per_s']:.1f} img/s, {r['ms_per_step']:.1f} ms, {r['tflops']:.3f} TFLOP/s ({frac}), first step "
          f"{r['first_step_seconds']:.1f} s", flush=True)
    parts = (r.get("breakdown") or {}).get("parts", {})
    print("    ms: " + ", ".join(f"{n} {p['ms']:.1f}" + (f" ({p['forward_ms']:.1f} + {p['backward_ms']:.1f})"
                                                        if "forward_ms" in p else "") for n, p in parts.items()))


def main(argv=None) -> int:
    from alexnet.device import resolve_device
    args = parse_args(argv)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    setting = args.setting or ("imagenet" if device.type == "cuda" else "demo")
    formats = args.memory_formats or (["channels_last"] if device.type == "cuda" else ["contiguous", "channels_last"])
    compiles = {"eager": [False], "compiled": [True], "both": [False, True]}[args.compile]
    start = common.started(device)
    rows, peak_rows = [], {}
    with tempfile.TemporaryDirectory(prefix="roofline-") as work:
        os.environ["ALEXNET_CACHE"] = str(Path(work) / "cache")   # the synthetic data's prepared store
        for arch in args.archs:
            for batch in args.batch_sizes:
                probe = build(setting, arch, batch, "fp32", formats[0], False, device, Path(work) / "probe")
                size = args.peak_size or (8192 if device.type == "cuda" else 2048)
                peak = peaks(device, batch, probe.trainer.model, size)
                peak_rows[f"{arch} b{batch}"] = peak
                print(f"{arch} b{batch} peaks (TFLOP/s): " + "; ".join(
                    f"{d}: " + ", ".join(f"{k} {v:.3f}" for k, v in p.items()) for d, p in peak.items()), flush=True)
                for precision in args.precisions:
                    for fmt in formats:
                        for compiled in compiles:
                            r = row(args, setting, arch, batch, precision, fmt, compiled, device,
                                    Path(work) / f"r{len(rows)}", peak)
                            print_row(r)
                            rows.append(r)
    out = args.out or common.RESULTS / f"roofline-{device.type}-{common.today()}.json"
    common.write_result(out, {"quick": args.quick, "setting": setting, "peaks_tflops": peak_rows, "rows": rows,
                              "settings": {k: str(v) for k, v in vars(args).items()}}, device, start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
