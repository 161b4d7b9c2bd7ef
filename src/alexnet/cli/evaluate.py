"""``alexnet evaluate``: top-1 / top-5 error of a trained net (or an ensemble) on a data split.

    alexnet evaluate runs/fmnist --data fashion-mnist
    alexnet evaluate runs/a/model.safetensors --data data/imagenet --views 10 --ensemble runs/b runs/c
    alexnet evaluate torchvision:IMAGENET1K_V1 --data data/imagenet
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .args import WEIGHTS_HELP, add_device, non_negative_int, positive_int

ORDER = 40


def run_evaluate(args: argparse.Namespace) -> int:
    from alexnet.evaluate import evaluate_weights, format_result
    from alexnet.evaluate.from_weights import default_out_dir, training_data_of
    data = args.data or training_data_of(args.checkpoint)
    out = args.out or default_out_dir(args.checkpoint, args.split, args.views, 1 + len(args.ensemble))
    result = evaluate_weights([args.checkpoint, *args.ensemble], data, split=args.split, views=args.views,
                              batch_size=args.batch_size, workers=args.workers, device=args.device, out_dir=out)
    print(json.dumps(result, indent=1) if args.json else format_result(result))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="top-1/top-5 error, 10-view test, ensembles, per-class accuracy",
        description="Evaluate trained weights on a data split: top-1 and top-5 error as the paper reports them, "
                    "with the centre crop or the paper's 10-view softmax average, optionally averaged over several "
                    "checkpoints (the paper's 5-CNN ensemble). Writes confusion.csv/.npy, per_class.json, "
                    "metrics.json and evaluate.jsonl to --out.")
    p.add_argument("checkpoint", metavar="WEIGHTS", help=WEIGHTS_HELP)
    p.add_argument("--data", help="OUT directory of `alexnet prepare`, an ImageFolder, a Fashion-MNIST idx directory, "
                                  "or `fashion-mnist` (prepared once into $ALEXNET_CACHE or ~/.cache/alexnet); "
                                  "default: the data recorded in the weights")
    p.add_argument("--split", default="val", help="split of the prepared data to evaluate (default: val); "
                                                  "holdout:N:SEED: the N training images a run with holdout=N held out")
    p.add_argument("--views", type=int, choices=(1, 10), default=1,
                   help="1: centre crop; 10: four corners + centre and their flips, softmaxes averaged")
    p.add_argument("--ensemble", nargs="+", default=[], metavar="WEIGHTS",
                   help="more weights whose softmaxes are averaged with the first's")
    p.add_argument("--batch-size", type=positive_int, default=128, help="images per batch (default 128)")
    p.add_argument("--workers", type=non_negative_int, default=2,
                   help="image decoding threads (default 2; 0 decodes in the main thread)")
    add_device(p)
    p.add_argument("--out", type=Path, help="directory for the result files (default: <run dir>/eval-<split>-"
                                            "<views>view[-ensembleN], or ./<weights stem>-eval-… for other files)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_evaluate)
