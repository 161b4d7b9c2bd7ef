"""``alexnet train``, ``alexnet finetune``, ``alexnet demo``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ORDER = 30

# Explicit flags that are shorthands for --set KEY=VALUE.
FLAG_KEYS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "weight_decay": "weight_decay",
             "input_size": "input_size", "seed": "seed", "workers": "workers", "device": "device",
             "arch": "arch", "dataset": "dataset", "data": "data"}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, help="number of epochs")
    p.add_argument("--batch-size", type=int, help="global batch (split over torchrun's processes)")
    p.add_argument("--lr", type=float, help="initial learning rate")
    p.add_argument("--weight-decay", type=float, help="weight decay")
    p.add_argument("--input-size", type=int, help="side of the images the net sees")
    p.add_argument("--seed", type=int, help="seed of data order, augmentation and dropout")
    p.add_argument("--workers", type=int, help="decoding threads")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 …")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the training step")
    p.add_argument("--config", help="JSON (or .toml) file of config keys")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="override any config key, e.g. --set lr=0.02 --set model.dropout=0 (repeatable)")


def _overrides(args: argparse.Namespace) -> dict:
    from alexnet.train.recipes import load_config_file, parse_set
    out = dict(load_config_file(args.config)) if args.config else {}
    for attr, key in FLAG_KEYS.items():
        value = getattr(args, attr, None)
        if value is not None:
            out[key] = value
    if getattr(args, "compile", None):
        out["compile"] = True
    out.update(parse_set(args.set))
    return out


def _report(summary: dict) -> int:
    if summary["status"] == "interrupted":
        return 130
    last = summary["history"][-1] if summary["history"] else {}
    if "val_top1_error" in last:
        print(f"done: validation top-1 error {100 * last['val_top1_error']:.2f}%, top-5 error "
              f"{100 * last['val_top5_error']:.2f}%; weights in {summary['weights']}")
    else:
        print(f"done; weights in {summary['weights']}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from alexnet.train.loop import TrainingDiverged
    from alexnet.train.recipes import resolve_config
    from alexnet.train.runner import run_training
    overrides = _overrides(args)
    try:
        if args.resume:
            summary = run_training(None, args.resume, resume=True, overrides=overrides)
        else:
            cfg = resolve_config(args.recipe, overrides)
            summary = run_training(cfg, args.out, resume=False)
    except TrainingDiverged as e:
        print(f"alexnet train: {e}", file=sys.stderr)
        return 1
    return _report(summary)


def cmd_finetune(args: argparse.Namespace) -> int:
    from alexnet.train.finetune import finetune
    from alexnet.train.loop import TrainingDiverged
    overrides = _overrides(args)
    try:
        if args.resume:
            from alexnet.train.runner import run_training
            summary = run_training(None, args.out, resume=True, overrides=overrides)
        else:
            summary = finetune(args.weights, args.data, args.out, freeze=args.freeze, overrides=overrides)
    except TrainingDiverged as e:
        print(f"alexnet finetune: {e}", file=sys.stderr)
        return 1
    return _report(summary)


def cmd_demo(args: argparse.Namespace) -> int:
    import json

    from alexnet.demo import run_demo
    from alexnet.train.recipes import parse_set
    report = run_demo(args.out, args.data, device=args.device, profile=args.profile, overrides=parse_set(args.set))
    print(json.dumps({k: report[k] for k in ("test_accuracy", "arch", "device", "profile", "input_size",
                                             "epochs", "steps", "seconds")}, indent=2))
    print(f"report: {Path(args.out) / 'report.json'}  curves: {Path(args.out) / 'curves.png'}")
    return 0


def register(subparsers) -> None:
    from alexnet.train.recipes import recipe_names

    p = subparsers.add_parser(
        "train", help="train a net with a named recipe (paper, torchvision, d2l)",
        description="Train alexnet2012 or alexnet_owt. Every config key can be set with --set KEY=VALUE "
                    "or a --config file; the resolved config is saved as RUN_DIR/config.json. "
                    "Multi-GPU: torchrun --nproc-per-node N -m alexnet train ...")
    p.add_argument("--recipe", choices=recipe_names(),
                   help="paper (default for alexnet2012), torchvision (default for alexnet_owt), d2l")
    p.add_argument("--arch", choices=["alexnet2012", "alexnet_owt"])
    p.add_argument("--data", help="a prepared store (alexnet prepare OUT), an ImageFolder, or Fashion-MNIST idx files")
    p.add_argument("--dataset", choices=["fashion-mnist"], help="a named data set found on this machine")
    p.add_argument("--out", default="runs/train", help="run directory (default runs/train)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run exactly")
    _common(p)
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser(
        "finetune", help="fine-tune a model.safetensors on new classes (new fc8)",
        description="Load WEIGHTS, replace fc8 for the classes of DATA, optionally freeze the conv layers, and "
                    "train with the loop of `alexnet train` (logs, checkpoints, --resume).")
    p.add_argument("weights", nargs="?", help="model.safetensors written by alexnet train/demo")
    p.add_argument("data", nargs="?", help="ImageFolder (CLASS/*.jpg or train/ + val/), prepared store, or "
                                           "Fashion-MNIST idx files")
    p.add_argument("--freeze", choices=["features"], help="train only fc6-fc8")
    p.add_argument("--out", default="runs/finetune", help="run directory (default runs/finetune)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    _common(p)
    p.set_defaults(func=_finetune_checked)

    p = subparsers.add_parser(
        "demo", help="train alexnet2012 on Fashion-MNIST, test it, write report.json and curves.png",
        description="Trains alexnet2012 on Fashion-MNIST and tests it. The CPU profile (64-px input, 150 "
                    "batches per epoch, 6 epochs) took about 6 minutes on 2 cores; on a GPU the full profile "
                    "(224 px, all 60,000 images, 5 epochs) runs. Run again with the same --out to resume.")
    p.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--data", help="Fashion-MNIST idx directory or torchvision root (default: search the Debian "
                                  "path /usr/share/datasets/fashion-mnist and torchvision roots)")
    p.add_argument("--device", default="auto")
    p.add_argument("--profile", choices=["auto", "cpu", "full"], default="auto",
                   help="auto: full on a GPU, cpu otherwise")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[], help="override a config key")
    p.set_defaults(func=cmd_demo)


def _finetune_checked(args: argparse.Namespace) -> int:
    if not args.resume and (not args.weights or not args.data):
        raise ValueError("finetune needs WEIGHTS and DATA (or --resume with --out RUN_DIR)")
    return cmd_finetune(args)
