"""What the paper's LRN costs: the layer alone, and an alexnet2012 training step with and without it.

    python benchmarks/lrn_speed.py                          # this machine's device; JSON + bar chart
    python benchmarks/lrn_speed.py --device cpu --input-size 64 --batch-size 128 --steps 10
    python benchmarks/lrn_speed.py --quick --out /tmp/lrn.json     # seconds: checks the script runs (CI)

Rows (images per second, best of ``--repeats`` timings of ``--steps`` steps each, after warm-up):

- ``layer``: norm1's shape (batch × 96 × 55×55 at 224, 15×15 at 64), forward + backward, for
  alexnet.models.LocalResponseNorm (one autograd Function, per tower) and
  ``torch.nn.LocalResponseNorm`` (one group);
- ``step``: ``alexnet.train.loop.train_step`` of alexnet2012 (SGD, the paper recipe's optimiser)
  with ``lrn=True`` (the paper), ``lrn=False``, and torch's LRN in place of ours; on CUDA also
  under ``torch.compile``; and the paper's step with torch's per-tensor SGD instead of the fused
  kernel ``build_optimizer`` uses. The headline is ``step_lrn_over_no_lrn`` (target ≥ 0.85 on a CPU).

Measured on 2026-12-01, 2-core CPU (this project's CI machine type), torch 2.14.1,
``--device cpu --input-size 64 --batch-size 128``: see docs/BENCHMARKS.md ("LRN") for the table.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` beside this file

import common  # noqa: E402

from alexnet.jsonl import JsonlWriter  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--input-size", type=int, default=None, help="crop side (default 224 on CUDA, 64 on a CPU)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=None, help="timed steps per repeat (default 20 CUDA, 5 CPU)")
    p.add_argument("--repeats", type=int, default=3, help="timings per row; the best is reported")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows (CUDA only)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one step: checks the script runs")
    p.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/lrn-<device>-<date>.json)")
    p.add_argument("--png", type=Path, default=None, help="bar chart (default docs/images/lrn-speed.png; "
                                                          "not drawn for --quick unless given)")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_size, args.steps, args.repeats = 4, 1, 1
        args.input_size = args.input_size or 64
    return args


def _time(device, fn, steps: int, repeats: int, warmup: int) -> float:
    """Best seconds per call of ``fn`` over ``repeats`` timings of ``steps`` calls."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        with common.Timer(device) as t:
            for _ in range(steps):
                fn()
        best = min(best, t.seconds / steps)
    return best


class _TorchLRN:
    """torch.nn.LocalResponseNorm with the paper's values, as a drop-in for norm1/norm2."""

    @staticmethod
    def make():
        import torch
        return torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)


def layer_rows(args, device, side: int) -> list[dict[str, Any]]:
    import torch

    from alexnet.models import LocalResponseNorm

    x0 = torch.rand(args.batch_size, 96, side, side, device=device) * 20
    rows = []
    for name, layer in (("alexnet LocalResponseNorm (Function, 2 towers)", LocalResponseNorm(groups=2)),
                        ("torch.nn.LocalResponseNorm (1 group)", _TorchLRN.make())):
        x = x0.clone().requires_grad_()
        grad = torch.ones_like(x0)

        def step():
            x.grad = None
            layer(x).backward(grad)

        s = _time(device, step, args.steps, args.repeats, warmup=2)
        rows.append({"section": "layer", "name": name, "shape": list(x0.shape), "seconds": s,
                     "images_per_s": args.batch_size / s})
    return rows


def step_rows(args, device, compiled: bool) -> list[dict[str, Any]]:
    import torch

    from alexnet.recipes import resolve_config
    from alexnet.models import create
    from alexnet.train.loop import train_step
    from alexnet.train.optim import build_optimizer

    cfg = resolve_config("paper")
    rows = []
    amp = torch.bfloat16 if device.type == "cuda" else None
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 3, args.input_size, args.input_size, generator=g).to(device)
    y = torch.randint(0, 1000, (args.batch_size,), generator=g).to(device)
    variants = (("lrn=True (the paper)", {"lrn": True}), ("lrn=False", {"lrn": False}),
                ("torch.nn.LocalResponseNorm in place", {"lrn": True, "torch_lrn": True}),
                ("lrn=True, SGD without the fused kernel", {"lrn": True, "unfused": True}))
    for name, opts in variants:
        torch.manual_seed(0)
        model = create("alexnet2012", input_size=args.input_size, **{k: v for k, v in opts.items() if k == "lrn"})
        if opts.get("torch_lrn"):
            model.features.norm1, model.features.norm2 = _TorchLRN.make(), _TorchLRN.make()
        model = model.to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        optimizer = build_optimizer(model, cfg)
        if opts.get("unfused"):     # torch's default SGD implementation, which build_optimizer replaced
            optimizer = torch.optim.SGD([{**g, "fused": None, "foreach": None} for g in optimizer.param_groups],
                                        lr=cfg.lr, momentum=cfg.momentum)
        net = torch.compile(model) if compiled else model

        def step():
            return train_step(net, x, y, optimizer, lambda t, generator=None: t, amp_dtype=amp,
                              channels_last=device.type == "cuda")

        s = _time(device, step, args.steps, args.repeats, warmup=2 if not compiled else 3)
        rows.append({"section": "step", "name": name + (" compiled" if compiled else ""), "compile": compiled,
                     "lrn": opts["lrn"], "input_size": args.input_size, "batch_size": args.batch_size,
                     "precision": "bf16" if amp else "fp32", "seconds": s, "images_per_s": args.batch_size / s})
    return rows


def bar_chart(result: dict, png: Path) -> Path:
    from matplotlib.figure import Figure

    from alexnet.atomic import atomic_path
    rows = [r for r in result["rows"] if r["section"] == "step"]
    fig = Figure(figsize=(8, 0.6 * len(rows) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.barh([r["name"] for r in rows][::-1], [r["images_per_s"] for r in rows][::-1], color="#4c72b0")
    for i, r in enumerate(rows[::-1]):
        ax.text(r["images_per_s"], i, f" {r['images_per_s']:.0f}", va="center", fontsize=8)
    ax.set_xlabel("training images / s (alexnet2012, train_step)")
    ax.set_title(f"LRN cost: {result['device']}, {result['date']}, {rows[0]['input_size']} px, batch "
                 f"{rows[0]['batch_size']} — with LRN at {result['step_lrn_over_no_lrn']:.2f}× no LRN", fontsize=9)
    fig.subplots_adjust(left=0.38, right=0.95, bottom=0.25 if len(rows) < 4 else 0.15)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return png


def run(args) -> tuple[dict, Path]:
    from alexnet.device import resolve_device
    device = resolve_device(args.device)
    args.input_size = args.input_size or (224 if device.type == "cuda" else 64)
    args.steps = args.steps or (20 if device.type == "cuda" else 5)
    name = common.device_name(device)
    out = args.out or RESULTS_DIR / f"lrn-{common.slug(name)}-{common.today()}.json"
    log = JsonlWriter(out.with_suffix(".log.jsonl"))
    log.write("start", command=common.command_line(), device=name)
    side = math.ceil((args.input_size - 11) / 4) + 1      # conv1's maps under cuda-convnet's ceil rule
    rows = layer_rows(args, device, side)
    rows += step_rows(args, device, compiled=False)
    if device.type == "cuda" and not (args.no_compile or args.quick):
        rows += step_rows(args, device, compiled=True)
    for r in rows:
        log.write("result", **r)
        print(f"  {r['section']:<6} {r['name']:<52} {r['images_per_s']:>10.1f} img/s  {1e3 * r['seconds']:8.2f} ms")
    by = {r["name"]: r["images_per_s"] for r in rows}
    result = {"device": name, "date": common.today(), "time": common.now_iso(), "quick": args.quick,
              "command": common.command_line(), "versions": common.versions(),
              "device_info": common.device_info(device), "settings": {k: str(v) for k, v in vars(args).items()},
              "rows": rows,
              "step_lrn_over_no_lrn": by["lrn=True (the paper)"] / by["lrn=False"],
              "step_torch_lrn_over_no_lrn": by["torch.nn.LocalResponseNorm in place"] / by["lrn=False"],
              "layer_ours_over_torch": by["alexnet LocalResponseNorm (Function, 2 towers)"]
              / by["torch.nn.LocalResponseNorm (1 group)"]}
    result["step_fused_sgd_over_unfused"] = by["lrn=True (the paper)"] / by["lrn=True, SGD without the fused kernel"]
    if "lrn=True (the paper) compiled" in by:
        result["step_lrn_over_no_lrn_compiled"] = by["lrn=True (the paper) compiled"] / by["lrn=False compiled"]
    common.write_json(out, result)
    log.write("end", out=str(out))
    log.close()
    png = args.png or (None if args.quick else Path(__file__).resolve().parents[1] / "docs" / "images" / "lrn-speed.png")
    if png is not None:
        result["png"] = str(bar_chart(result, png))
    print(f"\nstep with LRN / without: {result['step_lrn_over_no_lrn']:.3f} (target ≥ 0.85 on a CPU); "
          f"torch's LRN in place: {result['step_torch_lrn_over_no_lrn']:.3f}; layer ours / torch's: "
          f"{result['layer_ours_over_torch']:.2f}×\nwrote {out}")
    return result, out


def main(argv=None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
