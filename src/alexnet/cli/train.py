"""``alexnet train``, ``alexnet finetune``, ``alexnet demo``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .args import WEIGHTS_HELP, add_device, is_main_process

ORDER = 30

# Config keys with a flag of their own (--batch-size for --set batch_size=...): type, bounds and help
# come from the Config field.
FIELD_FLAGS = ("epochs", "batch_size", "lr", "weight_decay", "input_size", "seed", "workers")
# Flags that are shorthands for --set KEY=VALUE.
FLAG_KEYS = (*FIELD_FLAGS, "device", "arch", "dataset", "data")


def _field_type(name: str):
    from alexnet.config import parse_field

    def parse(text: str):
        try:
            return parse_field(name, text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def _common(p: argparse.ArgumentParser) -> None:
    from alexnet.config import field_help
    for name in FIELD_FLAGS:
        p.add_argument("--" + name.replace("_", "-"), type=_field_type(name), help=field_help(name))
    add_device(p)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the training step (--no-compile: eager; default: the config's compile, "
                        "\"auto\": eager, see the log's start event for why)")
    p.add_argument("--config", help="JSON (or .toml) file of config keys")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="override any config key, e.g. --set lr=0.02 --set model.dropout=0 (repeatable)")


def _overrides(args: argparse.Namespace) -> dict:
    from alexnet.config import load_config_file, parse_set
    out = dict(load_config_file(args.config)) if args.config else {}
    for key in FLAG_KEYS:
        value = getattr(args, key, None)
        if value is not None and not (key == "device" and value == "auto"):  # "auto": the config decides
            out[key] = value
    if getattr(args, "compile", None) is not None:
        out["compile"] = args.compile
    out.update(parse_set(args.set))
    return out


def _training(command: str, run) -> int:
    """Run a training job; a diverged or stalled run is exit status 1 with its message."""
    from alexnet.train.loop import TrainingDiverged, TrainingStalled
    try:
        summary = run()
    except (TrainingDiverged, TrainingStalled) as e:
        print(f"alexnet {command}: {e}", file=sys.stderr)
        return 1
    if summary["status"] == "interrupted":
        return 130
    if is_main_process():
        last = summary["history"][-1] if summary["history"] else {}
        if "val_top1_error" in last:
            print(f"done: validation top-1 error {100 * last['val_top1_error']:.2f}%, top-5 error "
                  f"{100 * last['val_top5_error']:.2f}%; weights in {summary['weights']}")
        else:
            print(f"done; weights in {summary['weights']}")
    return 0


RESUME_HELP = ("continue an interrupted run exactly: `--resume RUN_DIR`, or `--resume` alone for --out; "
               "`--resume auto`: continue --out if it holds a checkpoint, else start it (one command line for "
               "torchrun --max-restarts)")


def _add_resume(p: argparse.ArgumentParser) -> None:
    """The one spelling of resuming, for train and finetune."""
    p.add_argument("--resume", nargs="?", const="", metavar="RUN_DIR|auto", help=RESUME_HELP)


def _resume_dir(args: argparse.Namespace, command: str) -> str | None:
    """The run directory to continue: None (a new run), --out (bare --resume, or auto with a checkpoint)
    or the RUN_DIR given."""
    if args.resume is None:
        return None
    if args.resume == "auto":
        from alexnet.train.runner import can_resume
        if not can_resume(args.out):
            return None
        if is_main_process():
            print(f"alexnet {command}: resuming {args.out} from its checkpoint (--resume auto)", file=sys.stderr)
    return args.resume if args.resume not in ("", "auto") else args.out


def run_train(args: argparse.Namespace) -> int:
    from alexnet.recipes import resolve_config
    from alexnet.train.runner import run_training
    overrides = _overrides(args)
    resume = _resume_dir(args, "train")
    if resume:
        return _training("train", lambda: run_training(None, resume, resume=True, overrides=overrides))
    cfg = resolve_config(args.recipe, overrides)
    return _training("train", lambda: run_training(cfg, args.out))


def run_finetune(args: argparse.Namespace) -> int:
    from alexnet.train.finetune import finetune
    from alexnet.train.runner import run_training
    overrides = _overrides(args)
    resume = _resume_dir(args, "finetune")
    if resume:
        return _training("finetune", lambda: run_training(None, resume, resume=True, overrides=overrides))
    if not args.weights or not args.data:
        raise ValueError("finetune needs WEIGHTS and DATA (or --resume RUN_DIR)")
    return _training("finetune", lambda: finetune(args.weights, args.data, args.out, freeze=args.freeze,
                                                  overrides=overrides))


def run_demo(args: argparse.Namespace) -> int:
    from alexnet.config import parse_set
    from alexnet.demo import run_demo as demo
    report = demo(args.out, args.data, device=args.device, profile=args.profile, overrides=parse_set(args.set))
    print(json.dumps({k: report[k] for k in ("validation_accuracy", "validation_accuracy_10_views", "test_accuracy",
                                             "test_accuracy_10_views", "arch", "optimizer", "device",
                                             "profile", "input_size",
                                             "epochs", "steps", "seconds")}, indent=2))
    print(f"report: {Path(args.out) / 'report.json'}  curves: {Path(args.out) / 'curves.png'}")
    return 0


def register(subparsers) -> None:
    from alexnet.recipes import recipe_names
    from alexnet.models import list_models

    p = subparsers.add_parser(
        "train", help="train a net with a named recipe (paper, torchvision, d2l)",
        description="Train alexnet2012, alexnet_owt or alexnet_d2l. Every config key can be set with --set "
                    "KEY=VALUE or a --config file; the resolved config is saved as RUN_DIR/config.json. "
                    "Multi-GPU: torchrun --nproc-per-node N -m alexnet train ...")
    p.add_argument("--recipe", choices=recipe_names(),
                   help="paper (default for alexnet2012), torchvision (default for alexnet_owt), d2l (alexnet_d2l)")
    p.add_argument("--arch", choices=list_models())
    p.add_argument("--data", help="a prepared store (alexnet prepare OUT), an ImageFolder, or Fashion-MNIST idx files")
    p.add_argument("--dataset", choices=["fashion-mnist"], help="a named data set found on this machine")
    p.add_argument("--out", default="runs/train", help="run directory (default runs/train)")
    _add_resume(p)
    _common(p)
    p.set_defaults(func=run_train)

    p = subparsers.add_parser(
        "finetune", help="fine-tune trained weights on new classes (new fc8)",
        description="Load WEIGHTS, replace fc8 for the classes of DATA, optionally freeze the conv layers, and "
                    "train with the loop of `alexnet train` (logs, checkpoints, --resume).")
    p.add_argument("weights", nargs="?", metavar="WEIGHTS", help=WEIGHTS_HELP)
    p.add_argument("data", nargs="?", help="ImageFolder (CLASS/*.jpg or train/ + val/), prepared store, or "
                                           "Fashion-MNIST idx files")
    p.add_argument("--freeze", choices=["features"], help="train only fc6-fc8")
    p.add_argument("--out", default="runs/finetune", help="run directory (default runs/finetune)")
    _add_resume(p)
    _common(p)
    p.set_defaults(func=run_finetune)

    p = subparsers.add_parser(
        "demo", help="train alexnet2012 on Fashion-MNIST with the paper's SGD, test it, write report.json",
        description="Trains alexnet2012 with the paper recipe (SGD, momentum 0.9) on Fashion-MNIST and tests it "
                    "on the 10,000 test images. On a CPU it scales down to 64-px input and part of each epoch "
                    "(see the README); on a GPU it runs 224 px and whole epochs. Run again with the same --out "
                    "to resume.")
    p.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--data", help="Fashion-MNIST idx directory or torchvision root (default: search the Debian "
                                  "path /usr/share/datasets/fashion-mnist and torchvision roots)")
    add_device(p)
    p.add_argument("--profile", choices=["auto", "cpu", "full"], default="auto",
                   help="auto: full on a GPU, cpu otherwise")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[], help="override a config key")
    p.set_defaults(func=run_demo)
