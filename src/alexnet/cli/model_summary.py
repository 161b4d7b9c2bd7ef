"""``alexnet summary``: per-layer shapes, parameters, MACs, neurons and receptive fields."""

from __future__ import annotations

import argparse
import json

from alexnet.models import list_models

from .args import positive_int

ORDER = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "summary", help="per-layer table: shapes, parameters, MACs, neurons, receptive fields",
        description="Per-layer output shape, parameters, multiply-accumulates, neurons and receptive "
                    "field (size, jump, start) of a model, with totals. Runs on PyTorch's meta device.")
    p.add_argument("--arch", default="alexnet2012", choices=list_models(), help="model (default: %(default)s)")
    p.add_argument("--input-size", type=positive_int, default=224, help="square input side (default: %(default)s)")
    p.add_argument("--num-classes", type=positive_int, default=1000, help="classes (default: %(default)s)")
    p.add_argument("--in-channels", type=positive_int, default=3, help="input channels (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_summary)


def run_summary(args: argparse.Namespace) -> int:
    from alexnet.models.summary import format_table, summarize
    s = summarize(args.arch, input_size=args.input_size, num_classes=args.num_classes,
                  in_channels=args.in_channels)
    print(json.dumps(s, indent=2) if args.json else format_table(s))
    return 0
