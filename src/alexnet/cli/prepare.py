"""``alexnet prepare SRC OUT``: build the prepared store training and evaluation read."""

from __future__ import annotations

import json
import sys

from .args import positive_int

ORDER = 20


def run_prepare(args) -> int:
    from alexnet.data.prepare import prepare
    summary = prepare(args.src, args.out, split=args.split, size=args.size, workers=args.workers,
                      strict=args.strict, progress=not args.no_progress, chunk_size=args.chunk_size,
                      quality=args.quality)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        for name, s in summary["splits"].items():
            line = (f"{name}: {s['images']} images, {s['classes']}/{s['num_classes']} classes "
                    f"({s['images_per_class']['min']}–{s['images_per_class']['max']} per class), "
                    f"{s['skipped']} skipped")
            if s["skipped"]:
                reasons = ", ".join(f"{r}: {n}" for r, n in s["skipped_by_reason"].items())
                line += f" ({reasons}; list in {s['skipped_report']})"
            if "stats" in s:
                line += f"; mean image and PCA in {s['stats']['pca'].rsplit('/', 1)[0]}"
            print(line)
        print(f"summary: {args.out}/summary.json")
    if not summary["ok"]:
        print("alexnet prepare: --strict: some files were skipped (see the summary)", file=sys.stderr)
        return 1
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare", help="turn ImageNet/ImageFolder/Fashion-MNIST data into a prepared store (once)",
        description="Shorter side to SIZE, central SIZE×SIZE crop, stored as JPEG shards with an "
                    "index, the class list, and the train split's mean image and RGB PCA. Reads "
                    "ImageFolder trees, ILSVRC-2012 folders or tars (+ devkit or Kaggle CSV for val), "
                    "and Fashion-MNIST idx files (kept 28×28 grey, lossless). Interrupted runs resume.")
    p.add_argument("src", help="data as you have it: a dataset root, an ImageFolder tree, a tar, "
                               "or a folder of Fashion-MNIST idx files")
    p.add_argument("out", help="the prepared store folder (created; reused to resume)")
    p.add_argument("--split", choices=("train", "val", "all"), default="all",
                   help="which split(s) to prepare (default: all found)")
    p.add_argument("--size", type=positive_int, default=256, help="side of the stored images (default: 256)")
    p.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 when any input file was skipped")
    p.add_argument("--chunk-size", type=positive_int, default=1000,
                   help="input files per shard, the unit of resuming (default: 1000)")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of stored images (default: 90)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    p.set_defaults(func=run_prepare)
