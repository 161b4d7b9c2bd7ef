"""``alexnet evaluate``: top-1 / top-5 error of a trained net (or an ensemble) on a data split.

    alexnet evaluate runs/fmnist --data fashion-mnist
    alexnet evaluate runs/a/model.safetensors --data data/imagenet --views 10 --ensemble runs/b runs/c
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ORDER = 40


def _default_out(args: argparse.Namespace) -> Path:
    from alexnet.evaluate import resolve_weights_path
    run_dir = resolve_weights_path(args.checkpoint).parent
    suffix = f"-ensemble{1 + len(args.ensemble)}" if args.ensemble else ""
    return run_dir / f"eval-{args.split}-{args.views}view{suffix}"


def _data_from_checkpoint(checkpoint: str) -> str:
    """The data the net was trained on, as its weights file records it (``config["data"]`` or ``["dataset"]``)."""
    from alexnet.evaluate import resolve_weights_path
    from alexnet.weights import load_weights
    path = resolve_weights_path(checkpoint)
    _, meta = load_weights(path)
    data = meta.config.get("data") or meta.config.get("dataset")
    if not data:
        raise ValueError(f"{path} does not record its training data; pass --data (a prepared store, "
                         f"a Fashion-MNIST idx directory, or `fashion-mnist`)")
    return str(data)


def run(args: argparse.Namespace) -> int:
    from alexnet.evaluate import evaluate_weights, format_result
    data = args.data or _data_from_checkpoint(args.checkpoint)
    out = args.out or _default_out(args)
    result = evaluate_weights([args.checkpoint, *args.ensemble], data, split=args.split, views=args.views,
                              batch_size=args.batch_size, workers=args.workers, device=args.device,
                              out_dir=out)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(format_result(result))
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="top-1/top-5 error, 10-view test, ensembles, per-class accuracy",
        description="Evaluate a model.safetensors written by this project (or a run directory holding one) "
                    "on a data split: top-1 and top-5 error as the paper reports them, with the centre crop "
                    "or the paper's 10-view softmax average, optionally averaged over several checkpoints "
                    "(the paper's 5-CNN ensemble). Writes confusion.csv/.npy, per_class.json, metrics.json "
                    "and evaluate.jsonl to --out.")
    p.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="model.safetensors, or a run directory containing one")
    p.add_argument("--data", help="OUT directory of `alexnet prepare`, a Fashion-MNIST idx directory, or "
                                  "`fashion-mnist` (prepared once into $ALEXNET_CACHE or ~/.cache/alexnet); "
                                  "default: the data recorded in the checkpoint")
    p.add_argument("--split", default="val", help="split of the prepared data to evaluate (default: val)")
    p.add_argument("--views", type=int, choices=(1, 10), default=1,
                   help="1: centre crop; 10: four corners + centre and their flips, softmaxes averaged")
    p.add_argument("--ensemble", nargs="+", default=[], metavar="CKPT",
                   help="more checkpoints whose softmaxes are averaged with CHECKPOINT's")
    p.add_argument("--batch-size", type=_positive, default=128, help="images per batch (default 128)")
    p.add_argument("--workers", type=_non_negative, default=2, help="image decoding threads (default 2; 0 decodes in the main thread)")
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:1, ...")
    p.add_argument("--out", type=Path, help="directory for the result files (default: "
                                            "<run dir>/eval-<split>-<views>view[-ensembleN])")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)
