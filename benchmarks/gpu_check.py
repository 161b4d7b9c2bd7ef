"""Everything a GPU must show, in one command, on a bare H100/H200 with the machine's own Python.

    pip install --no-deps --no-build-isolation -e .            # no network there: torch is already installed
    python benchmarks/gpu_check.py --fashion-mnist data/fashion-mnist --out /tmp/out   # ≤ 8 minutes
    python benchmarks/gpu_check.py --dry-run --out /tmp/dry                            # every stage, tiny, on the CPU

Stages, in this order (each has a status; a failing stage is recorded and the next one runs):

1. ``cuda_tests``: ``pytest -m cuda`` (nvJPEG on the side stream, the bf16/channels_last step, the
   compiled LRN) — passed/failed/skipped counts.
2. ``model_only``: ``train_step`` on synthetic tensors, alexnet2012 and alexnet_owt, batch 256,
   bf16, eager and ``torch.compile`` (benchmarks/train_throughput.py's rows).
3. ``lrn``: the LRN layer and an alexnet2012 step with and without it, eager and compiled
   (benchmarks/lrn_speed.py's rows).
4. ``end_to_end``: synthetic photograph-like JPEGs → ``alexnet prepare`` → GPU decode on the side
   stream → paper augmentation → the Trainer, one epoch; then ``eval``: centre and 10-view over the
   prepared val split, as seconds per 50,000 images.
5. ``baseline``: torchvision's ImageFolder + PIL + DataLoader recipe on the same JPEGs.
6. ``fashion_mnist``: Fashion-MNIST at 224 px from ``--fashion-mnist`` (the idx files): the d2l
   recipe (alexnet_d2l, Adam) and the paper recipe (alexnet2012, SGD), ``--fm-epochs`` each:
   test accuracy and seconds per epoch.

Output in ``--out`` (at most 8 files): ``gpu_check.json`` (top-level ``model_only``, ``end_to_end``,
``baseline``, ``eval``, ``fashion_mnist``, ``cuda_tests``, ``lrn``, each with ``status``; and
``device``, ``end_to_end_images_per_s``, ``baseline_images_per_s``, ``model_only_images_per_s``,
the targets and whether they were met), ``gpu_check.log.jsonl``, ``pytest.txt``, and the
Fashion-MNIST runs' ``curves-d2l.png`` / ``curves-paper.png``. Work files go to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # `common`, `train_throughput`, `lrn_speed` beside this file

import common  # noqa: E402

from alexnet.jsonl import JsonlWriter  # noqa: E402

#: The issue's targets on an H100/H200 (docs/BENCHMARKS.md).
TARGETS = {"end_to_end_images_per_s": 25_000, "end_to_end_over_baseline": 5.0, "end_to_end_over_model_only": 0.8,
           "eval_10view_seconds_per_50k": 30.0, "fashion_mnist_seconds_per_epoch": 5.0}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json and its log (≤ 8 files)")
    p.add_argument("--fashion-mnist", type=Path, help="folder of Fashion-MNIST's idx files (train/t10k)")
    p.add_argument("--dry-run", action="store_true", help="every stage at tiny sizes on the CPU (≤ 3 minutes)")
    p.add_argument("--device", default=None, help="default: cuda (cpu for --dry-run)")
    p.add_argument("--budget-s", type=float, default=450, help="stop starting stages after this many seconds")
    p.add_argument("--num-images", type=int, default=None, help="end-to-end training JPEGs (default 20,000)")
    p.add_argument("--fm-epochs", type=int, default=2, help="epochs of each Fashion-MNIST run (default 2)")
    p.add_argument("--skip", nargs="*", default=[], choices=["cuda_tests", "model_only", "lrn", "end_to_end",
                                                              "baseline", "fashion_mnist"])
    return p.parse_args(argv)


class Check:
    """Runs the stages in order, each inside a status record, within the time budget."""

    def __init__(self, args):
        self.args, self.started = args, time.time()
        args.out.mkdir(parents=True, exist_ok=True)
        self.log = JsonlWriter(args.out / "gpu_check.log.jsonl")
        self.result: dict[str, Any] = {}

    def stage(self, name: str, fn: Callable[[], dict]) -> dict:
        elapsed = time.time() - self.started
        if name in self.args.skip:
            rec = {"status": "skipped", "reason": "--skip"}
        elif elapsed > self.args.budget_s:
            rec = {"status": "skipped", "reason": f"time budget: {elapsed:.0f} s of {self.args.budget_s:.0f} s used"}
        else:
            print(f"[{elapsed:5.0f} s] {name} ...", flush=True)
            t0 = time.time()
            try:
                rec = {"status": "ok", **fn()}
            except Exception as e:  # recorded, and the next stage still runs
                rec = {"status": "failed", "error": f"{type(e).__name__}: {e}",
                       "traceback": traceback.format_exc(limit=8)}
                print(rec["traceback"], file=sys.stderr)
            rec["seconds"] = round(time.time() - t0, 2)
        self.result[name] = rec
        self.log.write("stage", name=name, **{k: v for k, v in rec.items() if k != "traceback"})
        print(f"         {name}: {rec['status']} {rec.get('error', '')}", flush=True)
        return rec


def cuda_tests(args) -> dict:
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
                          str(HERE.parent / "tests")], capture_output=True, text=True, cwd=HERE.parent)
    (args.out / "pytest.txt").write_text(out.stdout[-20000:] + out.stderr[-5000:])
    tail = (out.stdout.strip().splitlines() or [""])[-1]
    counts = {w: int(n) for n, w in (part.split()[:2] for part in tail.strip("= ").split(", ")
                                     if len(part.split()) >= 2 and part.split()[0].isdigit())}
    if out.returncode not in (0, 5):
        raise RuntimeError(f"pytest -m cuda exited {out.returncode}: {tail}")
    return {"summary": tail, "passed": counts.get("passed", 0), "failed": counts.get("failed", 0),
            "skipped": counts.get("skipped", 0), "deselected": counts.get("deselected", 0)}


def throughput_args(args, dry: bool) -> SimpleNamespace:
    n = args.num_images or (8 if dry else 20_000)
    return SimpleNamespace(
        device=args.device, quick=dry, num_images=n, num_val_images=4 if dry else 5_000, num_classes=2 if dry else 100,
        workers=min(16, os.cpu_count() or 1), archs=["alexnet2012", "alexnet_owt"], batch_sizes=[2] if dry else [256],
        batch_size=2 if dry else 128, steps=1 if dry else 20, warmup=1 if dry else 5, baseline_steps=1 if dry else 60,
        compile=not dry, e2e_compile=False, skip=[], profile=False)


def model_only(args, tt, device, targs, peak) -> dict:
    rows = [tt._model_only_row(targs, device, arch, targs.batch_sizes[0], "bf16", compiled,
                               tt._macs(arch), peak["tflops"])
            for arch in targs.archs for compiled in ([False, True] if targs.compile else [False])]
    best = {arch: max(r["images_per_s"] for r in rows if r["arch"] == arch) for arch in targs.archs}
    return {"rows": rows, "images_per_s": best, "matmul_peak": peak}


def lrn(args, device, dry: bool) -> dict:
    import lrn_speed
    largs = lrn_speed.parse_args(["--device", str(device), "--out", str(args.work / "lrn.json"),
                                  "--png", str(args.out / "lrn-speed.png")] + (["--quick"] if dry else []))
    result, _ = lrn_speed.run(largs)
    return {k: v for k, v in result.items() if k not in ("versions", "device_info", "settings", "command")}


def jpegs_and_store(args, targs) -> tuple[Path, Path]:
    from alexnet.data.prepare import prepare
    root = args.work / "jpegs"
    common.write_synthetic_jpegs(root / "train", targs.num_images, targs.num_classes, seed=0, workers=targs.workers)
    common.write_synthetic_jpegs(root / "val", targs.num_val_images, targs.num_classes, seed=1, workers=targs.workers)
    store = args.work / "store"
    prepare(root, store, split="all", workers=targs.workers, progress=False)
    return root, store


def end_to_end_and_eval(args, tt, device, targs, log) -> tuple[dict, dict]:
    t0 = time.time()
    root, store = jpegs_and_store(args, targs)
    data_s = time.time() - t0
    row, trainer, data = tt.end_to_end(targs, device, store, args.work / "run", log, False)
    eval_rows = tt.evaluation(targs, device, trainer, data, log)
    args.jpeg_train = root / "train"
    e2e = {"row": row, "images_per_s": row["images_per_s"], "decode_device": row["decode_device"],
           "data_generation_and_prepare_seconds": round(data_s, 1)}
    ev = {"rows": eval_rows, "centre_seconds_per_50k": next(r["seconds_per_50k"] for r in eval_rows if r["views"] == 1),
          "ten_view_seconds_per_50k": next(r["seconds_per_50k"] for r in eval_rows if r["views"] == 10)}
    return e2e, ev


def fashion_mnist(args, device, dry: bool) -> dict:
    from alexnet.recipes import resolve_config
    from alexnet.train.curves import curves_figure
    from alexnet.train.runner import run_training
    src = args.fashion_mnist
    if src is None:
        if not dry:
            raise FileNotFoundError("--fashion-mnist DIR (the idx files) is needed for this stage")
        sys.path.insert(0, str(HERE.parent / "tests"))
        from train_fixtures import write_fashion_idx
        src = write_fashion_idx(args.work / "fm-synthetic")
    os.environ["ALEXNET_CACHE"] = str(args.work / "cache")
    small = {"batch_size": 8, "max_steps_per_epoch": 2, "workers": 0} if dry else {"workers": 8}
    out = {"data": str(src), "runs": {}}
    for recipe in ("d2l", "paper"):
        cfg = resolve_config(recipe, {"data": str(src), "dataset": None, "input_size": 224, "epochs": args.fm_epochs,
                                      "device": str(device), **small})
        run_dir = args.work / f"fm-{recipe}"
        summary = run_training(cfg, run_dir)
        history = summary["history"]
        out["runs"][recipe] = {
            "arch": cfg.arch, "optimizer": cfg.optimizer, "lr": cfg.lr, "batch_size": cfg.batch_size,
            "test_accuracy_per_epoch": [round(1 - h["val_top1_error"], 4) for h in history],
            "seconds_per_epoch": [round(h["seconds"], 2) for h in history],
            "train_loss_per_epoch": [round(h["train_loss"], 4) for h in history]}
        curves_figure(run_dir, args.out / f"curves-{recipe}.png", title=f"Fashion-MNIST 224 px, {recipe} recipe")
    return out


def summarize(result: dict) -> None:
    """The headline keys (as benchmarks/results/*.json have them) and the targets."""
    mo, e2e, base, ev = (result.get(k, {}) for k in ("model_only", "end_to_end", "baseline", "eval"))
    result["model_only_images_per_s"] = (mo.get("images_per_s") or {}).get("alexnet2012")
    result["end_to_end_images_per_s"] = e2e.get("images_per_s")
    result["baseline_images_per_s"] = base.get("images_per_s")
    fm_epoch = [s for run in (result.get("fashion_mnist", {}).get("runs") or {}).values()
                for s in run["seconds_per_epoch"]]
    got = {"end_to_end_images_per_s": result["end_to_end_images_per_s"],
           "end_to_end_over_baseline": (result["end_to_end_images_per_s"] / result["baseline_images_per_s"]
                                        if result["end_to_end_images_per_s"] and result["baseline_images_per_s"] else None),
           "end_to_end_over_model_only": (result["end_to_end_images_per_s"] / result["model_only_images_per_s"]
                                          if result["end_to_end_images_per_s"] and result["model_only_images_per_s"]
                                          else None),
           "eval_10view_seconds_per_50k": ev.get("ten_view_seconds_per_50k"),
           "fashion_mnist_seconds_per_epoch": min(fm_epoch) if fm_epoch else None}
    # A dry run's tiny CPU sizes say nothing about the targets: "met" stays null there.
    judge = not result.get("dry_run")
    result["targets"] = {k: {"target": TARGETS[k], "measured": v,
                             "met": None if v is None or not judge else
                             (v <= TARGETS[k] if "seconds" in k else v >= TARGETS[k])}
                         for k, v in got.items()}


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    import train_throughput as tt
    from alexnet.device import resolve_device
    dry = args.dry_run
    device = resolve_device(args.device or ("cpu" if dry else "cuda"))
    args.device = str(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    check = Check(args)
    work = tempfile.TemporaryDirectory(prefix="gpu-check-")
    args.work = Path(work.name)
    name = common.device_name(device)
    result = check.result
    result.update({"device": name, "date": common.today(), "time": common.now_iso(), "dry_run": dry,
                   "command": common.command_line(), "versions": common.versions(),
                   "device_info": common.device_info(device)})
    check.log.write("start", device=name, dry_run=dry, command=result["command"])
    targs = throughput_args(args, dry)
    try:
        check.stage("cuda_tests", lambda: cuda_tests(args))
        peak = common.matmul_peak_tflops(device)
        check.stage("model_only", lambda: model_only(args, tt, device, targs, peak))
        check.stage("lrn", lambda: lrn(args, device, dry))
        holder: dict = {}

        def e2e():
            holder["e2e"], holder["eval"] = end_to_end_and_eval(args, tt, device, targs, check.log)
            return holder["e2e"]
        check.stage("end_to_end", e2e)
        result["eval"] = ({"status": "ok", **holder["eval"]} if "eval" in holder
                          else {"status": result["end_to_end"]["status"], "reason": "runs with end_to_end"})

        def baseline():
            if not getattr(args, "jpeg_train", None):
                raise RuntimeError("needs the end_to_end stage's JPEGs")
            row = tt.baseline(targs, device, args.jpeg_train, check.log)
            return {"row": row, "images_per_s": row["images_per_s"]}
        check.stage("baseline", baseline)
        check.stage("fashion_mnist", lambda: fashion_mnist(args, device, dry))
    finally:
        summarize(result)
        result["total_seconds"] = round(time.time() - check.started, 1)
        common.write_json(args.out / "gpu_check.json", json.loads(json.dumps(result, default=str)))
        check.log.write("end", total_seconds=result["total_seconds"])
        check.log.close()
        work.cleanup()
    failed = [k for k in ("cuda_tests", "model_only", "lrn", "end_to_end", "eval", "baseline", "fashion_mnist")
              if result[k]["status"] == "failed"]
    print(json.dumps({"device": name, "total_seconds": result["total_seconds"], "failed": failed,
                      "targets": result["targets"]}, indent=1))
    print(f"wrote {args.out / 'gpu_check.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
