"""The warm-up study: the paper recipe with and without its 100-step warm-up (docs/REPRODUCTION.md §1).

    python studies/warmup_study.py --seeds 4 --out benchmarks/results/warmup-study-2026-12-05.json
    python studies/warmup_study.py --seeds 1 --epochs 1 --steps 2 --batch-size 16 --holdout 16 --data FM --out x.json

Each (warm-up, seed) is one `alexnet train` run of the paper recipe on Fashion-MNIST at 64 px, 3 epochs
of 150 steps (the README's command), with 5,000 training images held out as the validation split: every
epoch's accuracy is on those, and the test images are evaluated once, at the end. The choice the study
informs (the recipe's warm-up) is made on the validation accuracy. Writes one JSON file: per run, the
per-epoch training loss and validation accuracy, epoch 1's logged losses and their peak, the final
test accuracy, and the run directory; the paired differences between the first two warm-ups (per
seed, with the mean and its 95 % t-interval); and the provenance of the study (alexnet.provenance).
Finished runs in --work are read back, not retrained.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def one_run(warmup: int, seed: int, args) -> dict:
    from alexnet.recipes import resolve_config
    from alexnet.train.runner import run_training
    run_dir = args.work / f"warmup-{warmup}" / f"seed-{seed}"
    record = run_dir / "study-record.json"
    if record.is_file():
        return json.loads(record.read_text())
    cfg = resolve_config("paper", {"input_size": 64, "epochs": args.epochs, "max_steps_per_epoch": args.steps,
                                   "warmup_steps": warmup, "seed": seed, "holdout": args.holdout,
                                   "batch_size": args.batch_size,
                                   "device": "cpu", "workers": 0,
                                   **({"data": str(args.data)} if args.data else {"dataset": "fashion-mnist"})})
    summary = run_training(cfg, run_dir)
    if summary["status"] != "done":
        raise SystemExit(f"warmup_study: run {run_dir} was interrupted; run the same command again to resume")
    from alexnet.train.curves import read_log
    # the step records as the run's history is now (steps a resumption trained again are left out)
    steps = [e for e in read_log(run_dir)[1] if e.get("epoch", 0) == 0]
    out = {"warmup_steps": warmup, "seed": seed, "run_dir": str(run_dir),
           # the loss the first logging intervals of epoch 1 reported, and its largest value there
           "epoch_1_losses": [{"step": e["step"], "loss": e["loss"]} for e in steps],
           "epoch_1_peak_loss": max((e["loss"] for e in steps), default=None),
           "per_epoch": [{"epoch": h["epoch"] + 1, "train_loss": h["train_loss"],
                          "validation_accuracy": 1.0 - h["val_top1_error"]} for h in summary["history"]],
           "test_accuracy": 1.0 - summary["test"]["test_top1_error"]}
    record.write_text(json.dumps(out, indent=1) + "\n")
    return out


def paired(runs: list[dict], warmups: list[int]) -> list[dict]:
    """The first two warm-ups compared seed by seed: per epoch, the difference in validation accuracy
    (first − second), and the difference in epoch 1's peak training loss; each with the mean and the
    95 % t-interval over the seeds (alexnet.experiment.stats). Empty with fewer than two warm-ups."""
    from alexnet.experiment.stats import interval
    if len(warmups) < 2:
        return []
    a, b = warmups[0], warmups[1]
    by = {(r["warmup_steps"], r["seed"]): r for r in runs}
    seeds = sorted(s for (w, s) in by if w == a and (b, s) in by)
    measures = {f"validation accuracy after epoch {e + 1}": (lambda r, e=e: r["per_epoch"][e]["validation_accuracy"])
                for e in range(min(len(by[(a, s)]["per_epoch"]) for s in seeds))} if seeds else {}
    measures["epoch 1's peak training loss"] = lambda r: r["epoch_1_peak_loss"]
    rows = []
    for name, value in measures.items():
        diffs = [value(by[(a, s)]) - value(by[(b, s)]) for s in seeds
                 if value(by[(a, s)]) is not None and value(by[(b, s)]) is not None]
        if not diffs:
            continue
        iv = interval(diffs)
        rows.append({"measure": name, "a": a, "b": b, "seeds": seeds, "differences": diffs, "n": iv.n,
                     "mean": iv.mean, "low": iv.low, "high": iv.high})
    return rows


def main(argv=None) -> int:
    from alexnet.atomic import atomic_write_text
    from alexnet.provenance import provenance
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--warmups", type=int, nargs="+", default=[100, 0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--steps", type=int, default=150, help="steps per epoch (default 150)")
    p.add_argument("--holdout", type=int, default=5000, help="training images held out for validation")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--data", type=Path, help="Fashion-MNIST's idx folder (default: found on this machine)")
    p.add_argument("--work", type=Path, default=Path("runs/warmup-study"))
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    runs = [one_run(w, s, args) for s in range(args.seeds) for w in args.warmups]
    result = {"provenance": provenance("cpu"), "study": "the paper recipe with and without its warm-up",
              "settings": {"epochs": args.epochs, "steps_per_epoch": args.steps, "holdout": args.holdout,
                           "input_size": 64, "warmups": args.warmups, "seeds": args.seeds},
              "runs": runs, "paired": paired(runs, args.warmups)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    for r in runs:
        print(f"warm-up {r['warmup_steps']:>4}, seed {r['seed']}: validation accuracy per epoch "
              + ", ".join(f"{e['validation_accuracy']:.3f}" for e in r["per_epoch"])
              + f"; test {r['test_accuracy']:.3f}")
    for row in result["paired"]:
        iv = "no interval (n = 1)" if row["low"] is None else f"95 % CI [{row['low']:+.4f}, {row['high']:+.4f}]"
        print(f"{row['measure']}: warm-up {row['a']} − {row['b']} = {row['mean']:+.4f} ({iv}, n = {row['n']})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
