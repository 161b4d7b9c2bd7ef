"""The demo's training step on this CPU: float32 or bf16 autocast, contiguous or channels-last.

    python benchmarks/cpu_step_speed.py                       # JSON in benchmarks/results/
    python benchmarks/cpu_step_speed.py --threads 1 2 --steps 5 --repeats 3
    python benchmarks/cpu_step_speed.py --quick --out /tmp/s.json      # seconds: checks it runs (CI)

Each row is ``alexnet.train.loop.train_step`` of alexnet2012 as the CPU demo builds it (10 classes,
64-px input, batch 128, the paper recipe's SGD), images per second, best of ``--repeats`` timings of
``--steps`` steps after two warm-up steps, with ``torch.set_num_threads(T)`` for each T of
``--threads``. Variants: float32 (what the demo trains in on a CPU); bf16 autocast (``--set
amp=bf16``); channels-last memory (``--set channels_last=true``); both. Whether bf16 is fast depends
on the CPU: the JSON records the CPU's model and its bf16 flags (``avx512_bf16``, ``amx_bf16``) and
whether oneDNN reports bf16 support.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` beside this file

import common  # noqa: E402

from alexnet.jsonl import JsonlWriter  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
VARIANTS = (("float32", {}), ("bf16 autocast", {"amp": True}), ("float32, channels-last", {"cl": True}),
            ("bf16 autocast, channels-last", {"amp": True, "cl": True}))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--threads", type=int, nargs="+", default=None, help="thread counts (default: this process's)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per repeat")
    p.add_argument("--repeats", type=int, default=3, help="timings per row; the best is reported")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one step: checks the script runs")
    p.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/cpu-step-<date>.json)")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_size, args.steps, args.repeats = 4, 1, 1
    return args


def cpu_facts() -> dict[str, Any]:
    """The CPU's model name, its bf16 flags, and what torch says of it."""
    import torch
    model, flags = platform.processor() or "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    try:
        onednn_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn_bf16 = None
    return {"cpu_model": model, "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
            "avx512f": "avx512f" in flags, "avx2": "avx2" in flags,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "onednn_bf16": onednn_bf16}


def step_rows(args, threads: int) -> list[dict[str, Any]]:
    import torch

    from alexnet.recipes import resolve_config
    from alexnet.models import create
    from alexnet.train.loop import train_step
    from alexnet.train.optim import build_optimizer

    torch.set_num_threads(threads)
    cfg = resolve_config("paper")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 1, args.input_size, args.input_size, generator=g) * 60
    y = torch.randint(0, args.classes, (args.batch_size,), generator=g)
    rows = []
    for name, opts in VARIANTS:
        torch.manual_seed(0)
        model = create("alexnet2012", input_size=args.input_size, in_channels=1, num_classes=args.classes,
                       **{k: v for k, v in cfg.model.items()})
        if opts.get("cl"):
            model = model.to(memory_format=torch.channels_last)
        optimizer = build_optimizer(model, cfg)
        amp = torch.bfloat16 if opts.get("amp") else None

        def step():
            return train_step(model, x, y, optimizer, lambda t, generator=None: t, amp_dtype=amp,
                              channels_last=bool(opts.get("cl")))

        for _ in range(2):
            step()
        best = float("inf")
        for _ in range(args.repeats):
            with common.Timer(torch.device("cpu")) as t:
                for _ in range(args.steps):
                    step()
            best = min(best, t.seconds / args.steps)
        rows.append({"name": name, "threads": threads, "bf16": bool(opts.get("amp")),
                     "channels_last": bool(opts.get("cl")), "input_size": args.input_size,
                     "batch_size": args.batch_size, "seconds": best, "images_per_s": args.batch_size / best})
    return rows


def run(args) -> tuple[dict, Path]:
    import torch
    out = args.out or RESULTS_DIR / f"cpu-step-{common.today()}.json"
    log = JsonlWriter(out.with_suffix(".log.jsonl"))
    facts = cpu_facts()
    log.write("start", command=common.command_line(), **facts)
    print(f"CPU: {facts['cpu_model']} (avx512_bf16={facts['avx512_bf16']}, amx_bf16={facts['amx_bf16']}, "
          f"torch capability {facts['torch_cpu_capability']}, oneDNN bf16 {facts['onednn_bf16']})")
    rows = []
    for threads in args.threads or [torch.get_num_threads()]:
        for r in step_rows(args, threads):
            rows.append(r)
            log.write("result", **r)
            print(f"  {r['threads']} thread(s)  {r['name']:<32} {r['images_per_s']:>8.1f} img/s  "
                  f"{1e3 * r['seconds']:8.1f} ms")
    by = {(r["threads"], r["name"]): r["images_per_s"] for r in rows}
    ratios = {f"{t} threads": {"bf16_over_float32": by[(t, "bf16 autocast")] / by[(t, "float32")],
                               "channels_last_over_contiguous": by[(t, "float32, channels-last")] / by[(t, "float32")]}
              for t in sorted({r["threads"] for r in rows})}
    result = {"device": "cpu", "date": common.today(), "time": common.now_iso(), "quick": args.quick,
              "command": common.command_line(), "versions": common.versions(), "cpu": facts,
              "device_info": common.device_info(torch.device("cpu")),
              "settings": {k: str(v) for k, v in vars(args).items()}, "rows": rows, "ratios": ratios}
    common.write_json(out, result)
    log.write("end", out=str(out))
    log.close()
    for t, r in ratios.items():
        print(f"{t}: bf16 / float32 {r['bf16_over_float32']:.2f}×, channels-last / contiguous "
              f"{r['channels_last_over_contiguous']:.2f}×")
    print(f"wrote {out}")
    return result, out


def main(argv=None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
