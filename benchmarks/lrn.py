"""What the paper's LRN costs: the layer alone (ours and torch.nn.LocalResponseNorm, forward and
backward) and alexnet2012's training step with it, without it, with torch's in its place, and with
torch's unfused SGD; compiled too on CUDA. Headline: ``step_lrn_over_no_lrn`` (target ≥ 0.85).

    python benchmarks/lrn.py                          # this machine's device
    python benchmarks/lrn.py --device cpu --input-size 64 --batch-size 128 --steps 10 --amp bf16
    python benchmarks/lrn.py --quick --out /tmp/lrn.json       # seconds: checks it runs (CI)
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch

import common

PAPER, NO_LRN, TORCH_LRN, UNFUSED = ("lrn=True (the paper)", "lrn=False", "torch.nn.LocalResponseNorm in place",
                                     "lrn=True, SGD without the fused kernel")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--input-size", type=int, default=None, help="crop side (default 224 on CUDA, 64 on a CPU)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=None, help="timed steps per repeat (default 20 CUDA, 5 CPU)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto", help="the step's autocast "
                   "(auto: on CUDA)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows (CUDA only)")
    p.add_argument("--quick", action="store_true", help="batch 4, one step: checks it runs")
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/results/lrn-<device>-<date>.json")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_size, args.steps, args.repeats, args.input_size = 4, 1, 1, args.input_size or 64
    return args


def torch_lrn() -> torch.nn.Module:
    """torch.nn.LocalResponseNorm with the paper's values, as a drop-in for norm1/norm2."""
    return torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)


def layer_rows(args, device) -> list[dict[str, Any]]:
    from alexnet.models import LocalResponseNorm
    side = math.ceil((args.input_size - 11) / 4) + 1      # conv1's maps under cuda-convnet's ceil rule
    x0 = torch.rand(args.batch_size, 96, side, side, device=device) * 20
    rows = []
    for name, layer in (("alexnet LocalResponseNorm (Function, 2 towers)", LocalResponseNorm(groups=2)),
                        ("torch.nn.LocalResponseNorm (1 group)", torch_lrn())):
        x, grad = x0.clone().requires_grad_(), torch.ones_like(x0)

        def step():
            x.grad = None
            layer(x).backward(grad)
        s = common.best_seconds(device, step, args.steps, args.repeats, warmup=2)
        rows.append({"section": "layer", "name": name, "shape": list(x0.shape), "seconds": s,
                     "images_per_s": args.batch_size / s})
    return rows


def step_rows(args, device, compiled: bool, precision) -> list[dict[str, Any]]:
    from alexnet.recipes import resolve_config
    from alexnet.models import create
    from alexnet.train.loop import train_step
    from alexnet.train.optim import build_optimizer

    cfg = resolve_config("paper")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 3, args.input_size, args.input_size, generator=g).to(device)
    y = torch.randint(0, 1000, (args.batch_size,), generator=g).to(device)
    rows = []
    for name in (PAPER, NO_LRN, TORCH_LRN, UNFUSED):
        torch.manual_seed(0)
        model = create("alexnet2012", input_size=args.input_size, lrn=name != NO_LRN)
        if name == TORCH_LRN:
            model.features.norm1, model.features.norm2 = torch_lrn(), torch_lrn()
        layout = torch.channels_last if precision.channels_last else torch.preserve_format
        model = model.to(device, memory_format=layout)
        optimizer = build_optimizer(model, cfg)
        if name == UNFUSED:      # torch's default SGD implementation, which build_optimizer replaced
            optimizer = torch.optim.SGD([{**g, "fused": None, "foreach": None} for g in optimizer.param_groups],
                                        lr=cfg.lr, momentum=cfg.momentum)
        net = torch.compile(model) if compiled else model

        def step():
            return train_step(net, x, y, optimizer, lambda t, generator=None: t, amp_dtype=precision.autocast,
                              channels_last=precision.channels_last)
        s = common.best_seconds(device, step, args.steps, args.repeats, warmup=3 if compiled else 2)
        rows.append({"section": "step", "name": name + (" compiled" if compiled else ""), "compile": compiled,
                     "lrn": name != NO_LRN, "input_size": args.input_size, "batch_size": args.batch_size,
                     "precision": "bf16" if precision.autocast else "fp32", "seconds": s,
                     "images_per_s": args.batch_size / s})
    return rows


def run(args) -> tuple[dict, Path]:
    from alexnet.device import resolve_device, resolve_precision
    device = resolve_device(args.device)
    args.input_size = args.input_size or (224 if device.type == "cuda" else 64)
    args.steps = args.steps or (20 if device.type == "cuda" else 5)
    precision, start = resolve_precision(device, args.amp), common.started(device)   # the trainer's rule
    rows = layer_rows(args, device) + step_rows(args, device, False, precision)
    if device.type == "cuda" and not (args.no_compile or args.quick):
        rows += step_rows(args, device, True, precision)
    for r in rows:
        print(f"  {r['section']:<6} {r['name']:<52} {r['images_per_s']:>10.1f} img/s  {1e3 * r['seconds']:8.2f} ms")
    by = {r["name"]: r["images_per_s"] for r in rows}
    result = {"device": str(device), "quick": args.quick, "settings": {k: str(v) for k, v in vars(args).items()},
              "rows": rows, "step_lrn_over_no_lrn": by[PAPER] / by[NO_LRN],
              "step_torch_lrn_over_no_lrn": by[TORCH_LRN] / by[NO_LRN],
              "step_fused_sgd_over_unfused": by[PAPER] / by[UNFUSED],
              "layer_ours_over_torch": by["alexnet LocalResponseNorm (Function, 2 towers)"]
              / by["torch.nn.LocalResponseNorm (1 group)"]}
    if PAPER + " compiled" in by:
        result["step_lrn_over_no_lrn_compiled"] = by[PAPER + " compiled"] / by[NO_LRN + " compiled"]
    out = args.out or common.RESULTS / f"lrn-{device.type}-{common.today()}.json"
    common.write_result(out, result, device, start)
    print(f"step with LRN / without: {result['step_lrn_over_no_lrn']:.3f} (target ≥ 0.85); torch's LRN in place: "
          f"{result['step_torch_lrn_over_no_lrn']:.3f}; layer ours / torch's: {result['layer_ours_over_torch']:.2f}×")
    return result, out


if __name__ == "__main__":
    run(parse_args())
