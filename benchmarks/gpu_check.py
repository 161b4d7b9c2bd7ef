"""Everything a GPU must show, in one command, on a bare H100/H200 with the machine's own Python.

    pip install --no-deps --no-build-isolation -e .            # no network there: torch is already installed
    python benchmarks/gpu_check.py --fashion-mnist data/fashion-mnist --out /tmp/out   # ≤ 8 minutes
    python benchmarks/gpu_check.py --dry-run --out /tmp/dry                            # every stage, tiny, on the CPU

Stages, each with a status (a failing stage is recorded and the next one runs): ``cuda_tests``
(``pytest -m cuda``), ``model_only`` (roofline.py's rows), ``lrn`` (roofline.py --lrn), ``prepare``,
``end_to_end``, ``eval`` and ``baseline`` (pipeline.py's sections), ``fashion_mnist`` (the d2l and paper
recipes at 224 px). Output in ``--out``: ``gpu_check.json``, ``gpu_check.log.jsonl``, ``pytest.txt``,
``curves-{d2l,paper}.png``. docs/BENCHMARKS.md has the details.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

import torch

import common
import pipeline
import roofline
from alexnet.device import resolve_device
from alexnet.jsonl import JsonlWriter
from alexnet.provenance import device_description

ROOT = Path(__file__).resolve().parents[1]
#: The targets on an H100/H200 (docs/BENCHMARKS.md).
TARGETS = {"end_to_end_images_per_s": 25_000, "end_to_end_over_baseline": 5.0, "end_to_end_over_model_only": 0.8,
           "eval_10view_seconds_per_50k": 30.0, "fashion_mnist_seconds_per_epoch": 5.0}
STAGES = ("cuda_tests", "model_only", "lrn", "prepare", "end_to_end", "eval", "baseline", "fashion_mnist")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json and its log (≤ 8 files)")
    p.add_argument("--fashion-mnist", type=Path, help="folder of Fashion-MNIST's idx files (train/t10k)")
    p.add_argument("--dry-run", action="store_true", help="every stage at tiny sizes on the CPU (≤ 3 minutes)")
    p.add_argument("--device", default=None, help="default: cuda (cpu for --dry-run)")
    p.add_argument("--budget-s", type=float, default=450, help="stop starting stages after this many seconds")
    p.add_argument("--skip", nargs="*", default=[], choices=STAGES)
    return p.parse_args(argv)


def stage(check: SimpleNamespace, name: str, fn) -> dict:
    """Run one stage (``fn`` returns its record) inside a status record, within the time budget; a failure
    is recorded."""
    elapsed, t0 = time.time() - check.started, time.time()
    if name in check.args.skip or elapsed > check.args.budget_s:
        rec = {"status": "skipped", "reason": "--skip" if name in check.args.skip else
               f"time budget: {elapsed:.0f} s of {check.args.budget_s:.0f} s used"}
    else:
        print(f"[{elapsed:5.0f} s] {name} ...", flush=True)
        try:
            rec = {"status": "ok", **fn()}
        except Exception as e:  # recorded, and the next stage still runs
            rec = {"status": "failed", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=8)}
            print(rec["traceback"], file=sys.stderr)
        rec["seconds"] = round(time.time() - t0, 2)
    check.result[name] = rec
    check.log.write("stage", name=name, **{k: v for k, v in rec.items() if k != "traceback"})
    print(f"         {name}: {rec['status']} {rec.get('error', '')}", flush=True)
    return rec


def cuda_tests(args) -> dict:
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
                          str(ROOT / "tests")], capture_output=True, text=True, cwd=ROOT)
    (args.out / "pytest.txt").write_text(out.stdout[-20000:] + out.stderr[-5000:])
    tail = (out.stdout.strip().splitlines() or [""])[-1]
    if out.returncode not in (0, 5):
        raise RuntimeError(f"pytest -m cuda exited {out.returncode}: {tail}")
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|deselected)", tail)}
    return {"summary": tail, **{k: counts.get(k, 0) for k in ("passed", "failed", "skipped", "deselected")}}


def roofline_rows(args, device, dry: bool, name: str, *options: str) -> dict:
    """roofline.py's rows (bf16, channels-last; eager and compiled unless dry), with its peaks."""
    result = roofline.run(["--device", str(device), "--precisions", "bf16", "--memory-formats", "channels_last",
                           "--profile-steps", "0", "--out", str(args.work / f"{name}.json"), *options]
                          + (["--quick"] if dry else ["--batch-sizes", "256", "--steps", "20", "--repeats", "2"]))
    return {k: v for k, v in result.items() if k in ("rows", "peaks_tflops", "lrn")}


def fashion_mnist(args, device, dry: bool) -> dict:
    from alexnet.data.synthetic import write_fashion_idx
    from alexnet.recipes import resolve_config
    from alexnet.train.curves import curves_figure
    from alexnet.train.runner import run_training
    if args.fashion_mnist is None and not dry:
        raise FileNotFoundError("--fashion-mnist DIR (the idx files) is needed for this stage")
    src = args.fashion_mnist or write_fashion_idx(args.work / "fm-synthetic")
    os.environ["ALEXNET_CACHE"] = str(args.work / "cache")
    small = {"batch_size": 8, "max_steps_per_epoch": 2, "workers": 0} if dry else {"workers": 8}
    out = {"data": str(src), "runs": {}}
    for recipe in ("d2l", "paper"):
        cfg = resolve_config(recipe, {"data": str(src), "dataset": None, "input_size": 224, "epochs": 2,
                                      "device": str(device), **small})
        history = run_training(cfg, args.work / f"fm-{recipe}")["history"]
        out["runs"][recipe] = {
            "arch": cfg.arch, "optimizer": cfg.optimizer, "lr": cfg.lr, "batch_size": cfg.batch_size,
            "test_accuracy_per_epoch": [round(1 - h["val_top1_error"], 4) for h in history],
            "seconds_per_epoch": [round(h["seconds"], 2) for h in history],
            "train_loss_per_epoch": [round(h["train_loss"], 4) for h in history]}
        curves_figure(args.work / f"fm-{recipe}", args.out / f"curves-{recipe}.png",
                      title=f"Fashion-MNIST 224 px, {recipe} recipe")
    return out


def summarize(result: dict) -> None:
    """The headline keys and the targets (``met`` is null in a dry run: tiny CPU sizes say nothing)."""
    def rows(name: str, **match) -> list[dict]:
        return [r for r in result.get(name, {}).get("rows", []) if all(r.get(k) == v for k, v in match.items())]
    model = max((r["images_per_s"] for r in rows("model_only", arch="alexnet2012")), default=None)
    ends, basel = (next((r["images_per_s"] for r in rows(name)), None) for name in ("end_to_end", "baseline"))
    result.update(model_only_images_per_s=model, end_to_end_images_per_s=ends, baseline_images_per_s=basel)
    fm_epoch = [s for run in result.get("fashion_mnist", {}).get("runs", {}).values() for s in run["seconds_per_epoch"]]
    got = {"end_to_end_images_per_s": ends,
           "end_to_end_over_baseline": ends / basel if ends and basel else None,
           "end_to_end_over_model_only": ends / model if ends and model else None,
           "eval_10view_seconds_per_50k": next((r["seconds_per_50k"] for r in rows("eval", views=10)), None),
           "fashion_mnist_seconds_per_epoch": min(fm_epoch) if fm_epoch else None}
    judge = not result.get("dry_run")
    result["targets"] = {k: {"target": TARGETS[k], "measured": v, "met": None if v is None or not judge else
                             (v <= TARGETS[k] if "seconds" in k else v >= TARGETS[k])} for k, v in got.items()}


def main(argv=None) -> int:
    args = parse_args(argv)
    dry = args.dry_run
    device = resolve_device(args.device or ("cpu" if dry else "cuda"))
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    args.out.mkdir(parents=True, exist_ok=True)
    check = SimpleNamespace(args=args, started=time.time(), log=JsonlWriter(args.out / "gpu_check.log.jsonl"),
                            result={"device": device_description(device), "dry_run": dry})
    work, start = tempfile.TemporaryDirectory(prefix="gpu-check-"), common.started(device)
    args.work = Path(work.name)
    check.log.write("start", device=str(device), dry_run=dry)
    try:
        stage(check, "cuda_tests", lambda: cuda_tests(args))
        stage(check, "model_only", lambda: roofline_rows(args, device, dry, "model_only", "--setting", "imagenet",
                                                         "--archs", "alexnet2012", "alexnet_owt"))
        stage(check, "lrn", lambda: roofline_rows(args, device, dry, "lrn", "--lrn"))
        pipeline.run(["--device", str(device), "--skip", "loader", "--out", str(args.work / "pipeline.json"),
                      *(["--quick"] if dry else ["--images", "20000", "--val-images", "5000", "--classes", "100",
                                                 "--batch-size", "128", "--baseline-steps", "60", "--warmup", "5"])],
                     stage=lambda name, fn: stage(check, name, lambda: {"rows": fn()}).get("rows", []))
        stage(check, "fashion_mnist", lambda: fashion_mnist(args, device, dry))
    finally:
        summarize(check.result)
        check.result["total_seconds"] = round(time.time() - check.started, 1)
        common.write_result(args, "gpu_check", device, start, check.result, out=args.out / "gpu_check.json")
        check.log.write("end", total_seconds=check.result["total_seconds"])
        check.log.close()
        work.cleanup()
    failed = [k for k in STAGES if check.result[k]["status"] == "failed"]
    print(json.dumps({"device": str(device), "total_seconds": check.result["total_seconds"], "failed": failed,
                      "targets": check.result["targets"]}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
