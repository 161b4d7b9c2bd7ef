"""Everything a GPU must show, in one command, on a bare H100/H200 with the machine's own Python.

    pip install --no-deps --no-build-isolation -e .            # no network there: torch is already installed
    python benchmarks/gpu_check.py --fashion-mnist data/fashion-mnist --out /tmp/out   # ≤ 8 minutes
    python benchmarks/gpu_check.py --dry-run --out /tmp/dry                            # every stage, tiny, on the CPU

Stages, each with a status (a failing stage is recorded and the next one runs): ``cuda_tests``
(``pytest -m cuda``), ``model_only`` (roofline.py's rows), ``lrn`` (lrn.py), ``end_to_end`` and ``eval``
and ``baseline`` (pipeline.py), ``fashion_mnist`` (the d2l and paper recipes at 224 px). Output in
``--out``: ``gpu_check.json``, ``gpu_check.log.jsonl``, ``pytest.txt``, ``curves-{d2l,paper}.png``.
docs/BENCHMARKS.md has the details.
"""

from __future__ import annotations

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
from typing import Any, Callable

import torch

import common
import lrn
import pipeline
import roofline
from alexnet.jsonl import JsonlWriter
from alexnet.provenance import device_description

ROOT = Path(__file__).resolve().parents[1]
#: The targets on an H100/H200 (docs/BENCHMARKS.md).
TARGETS = {"end_to_end_images_per_s": 25_000, "end_to_end_over_baseline": 5.0, "end_to_end_over_model_only": 0.8,
           "eval_10view_seconds_per_50k": 30.0, "fashion_mnist_seconds_per_epoch": 5.0}
STAGES = ("cuda_tests", "model_only", "lrn", "end_to_end", "baseline", "fashion_mnist")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json and its log (≤ 8 files)")
    p.add_argument("--fashion-mnist", type=Path, help="folder of Fashion-MNIST's idx files (train/t10k)")
    p.add_argument("--dry-run", action="store_true", help="every stage at tiny sizes on the CPU (≤ 3 minutes)")
    p.add_argument("--device", default=None, help="default: cuda (cpu for --dry-run)")
    p.add_argument("--budget-s", type=float, default=450, help="stop starting stages after this many seconds")
    p.add_argument("--num-images", type=int, default=None, help="end-to-end training JPEGs (default 20,000)")
    p.add_argument("--fm-epochs", type=int, default=2, help="epochs of each Fashion-MNIST run (default 2)")
    p.add_argument("--skip", nargs="*", default=[], choices=STAGES)
    return p.parse_args(argv)


def stage(check: SimpleNamespace, name: str, fn: Callable[[], dict]) -> dict:
    """Run one stage inside a status record, within the time budget; a failure is recorded."""
    elapsed = time.time() - check.started
    if name in check.args.skip:
        rec = {"status": "skipped", "reason": "--skip"}
    elif elapsed > check.args.budget_s:
        rec = {"status": "skipped", "reason": f"time budget: {elapsed:.0f} s of {check.args.budget_s:.0f} s used"}
    else:
        print(f"[{elapsed:5.0f} s] {name} ...", flush=True)
        t0 = time.time()
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


def model_only(args, device, dry: bool) -> dict:
    """roofline.py's rows in the ImageNet setting: bf16, channels-last, eager and compiled."""
    batch = 2 if dry else 256
    rargs = SimpleNamespace(steps=1 if dry else 20, repeats=1 if dry else 2, profile_steps=0)
    probe = roofline.build("imagenet", "alexnet2012", batch, "fp32", "channels_last", False, device, args.work / "p")
    peak = roofline.peaks(device, batch, probe.trainer.model, 256 if dry else 8192)
    rows = [roofline.row(rargs, "imagenet", arch, batch, "bf16", "channels_last", compiled, device,
                         args.work / f"mo-{arch}-{compiled}", peak)
            for arch in ("alexnet2012", "alexnet_owt") for compiled in ((False,) if dry else (False, True))]
    best = {a: max(r["images_per_s"] for r in rows if r["arch"] == a) for a in ("alexnet2012", "alexnet_owt")}
    return {"rows": rows, "images_per_s": best, "peaks_tflops": peak}


def lrn_stage(args, device, dry: bool) -> dict:
    largs = lrn.parse_args(["--device", str(device), "--out", str(args.work / "lrn.json")]
                           + (["--quick"] if dry else []))
    result, _ = lrn.run(largs)
    return {k: v for k, v in result.items() if k != "settings"}


def end_to_end_and_eval(args, device, pargs) -> tuple[dict, dict]:
    t0 = time.time()
    root, store, _ = pipeline.jpegs_and_store(pargs, args.work)
    data_s = time.time() - t0
    row, trainer, data = pipeline.end_to_end(pargs, device, store, args.work / "run")
    eval_rows = pipeline.evaluation(pargs, device, trainer, data)
    args.jpeg_train = root / "train"
    per_50k = {r["views"]: r["seconds_per_50k"] for r in eval_rows}
    return ({"row": row, "images_per_s": row["images_per_s"], "decode_device": row["decode_device"],
             "data_generation_and_prepare_seconds": round(data_s, 1)},
            {"rows": eval_rows, "centre_seconds_per_50k": per_50k[1], "ten_view_seconds_per_50k": per_50k[10]})


def fashion_mnist(args, device, dry: bool) -> dict:
    from alexnet.recipes import resolve_config
    from alexnet.data.synthetic import write_fashion_idx
    from alexnet.train.curves import curves_figure
    from alexnet.train.runner import run_training
    src = args.fashion_mnist
    if src is None:
        if not dry:
            raise FileNotFoundError("--fashion-mnist DIR (the idx files) is needed for this stage")
        src = write_fashion_idx(args.work / "fm-synthetic")
    os.environ["ALEXNET_CACHE"] = str(args.work / "cache")
    small = {"batch_size": 8, "max_steps_per_epoch": 2, "workers": 0} if dry else {"workers": 8}
    out = {"data": str(src), "runs": {}}
    for recipe in ("d2l", "paper"):
        cfg = resolve_config(recipe, {"data": str(src), "dataset": None, "input_size": 224, "epochs": args.fm_epochs,
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
    mo, e2e, base, ev = (result.get(k, {}) for k in ("model_only", "end_to_end", "baseline", "eval"))
    model, ends, basel = (mo.get("images_per_s") or {}).get("alexnet2012"), e2e.get("images_per_s"), \
        base.get("images_per_s")
    result.update(model_only_images_per_s=model, end_to_end_images_per_s=ends, baseline_images_per_s=basel)
    fm_epoch = [s for run in (result.get("fashion_mnist", {}).get("runs") or {}).values()
                for s in run["seconds_per_epoch"]]
    got = {"end_to_end_images_per_s": ends,
           "end_to_end_over_baseline": ends / basel if ends and basel else None,
           "end_to_end_over_model_only": ends / model if ends and model else None,
           "eval_10view_seconds_per_50k": ev.get("ten_view_seconds_per_50k"),
           "fashion_mnist_seconds_per_epoch": min(fm_epoch) if fm_epoch else None}
    judge = not result.get("dry_run")
    result["targets"] = {k: {"target": TARGETS[k], "measured": v, "met": None if v is None or not judge else
                             (v <= TARGETS[k] if "seconds" in k else v >= TARGETS[k])} for k, v in got.items()}


def main(argv=None) -> int:
    from alexnet.device import resolve_device
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
    pargs = pipeline.fill_defaults(pipeline.parse_args(
        ["--images", str(args.num_images or (8 if dry else 20_000)), "--workers", str(min(16, os.cpu_count() or 1)),
         "--baseline-steps", "1" if dry else "60", "--warmup", "1" if dry else "5"] + (["--quick"] if dry else [])
        + ([] if dry else ["--val-images", "5000", "--classes", "100", "--batch-size", "128"])), device)
    holder: dict = {}
    try:
        stage(check, "cuda_tests", lambda: cuda_tests(args))
        stage(check, "model_only", lambda: model_only(args, device, dry))
        stage(check, "lrn", lambda: lrn_stage(args, device, dry))

        def e2e():
            holder["e2e"], holder["eval"] = end_to_end_and_eval(args, device, pargs)
            return holder["e2e"]
        stage(check, "end_to_end", e2e)
        check.result["eval"] = ({"status": "ok", **holder["eval"]} if "eval" in holder
                                else {"status": check.result["end_to_end"]["status"], "reason": "runs with end_to_end"})

        def base():
            if not getattr(args, "jpeg_train", None):
                raise RuntimeError("needs the end_to_end stage's JPEGs")
            row = pipeline.baseline(pargs, device, args.jpeg_train)
            return {"row": row, "images_per_s": row["images_per_s"]}
        stage(check, "baseline", base)
        stage(check, "fashion_mnist", lambda: fashion_mnist(args, device, dry))
    finally:
        summarize(check.result)
        check.result["total_seconds"] = round(time.time() - check.started, 1)
        common.write_result(args.out / "gpu_check.json", json.loads(json.dumps(check.result, default=str)), device,
                            start)
        check.log.write("end", total_seconds=check.result["total_seconds"])
        check.log.close()
        work.cleanup()
    failed = [k for k in (*STAGES, "eval") if check.result[k]["status"] == "failed"]
    print(json.dumps({"device": str(device), "total_seconds": check.result["total_seconds"], "failed": failed,
                      "targets": check.result["targets"]}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
