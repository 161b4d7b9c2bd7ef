"""``alexnet experiment NAME``: the paper's ablations, rerun on the data at hand."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .args import add_device, non_negative_int, positive_int

ORDER = 35


def run_report_command(args: argparse.Namespace) -> int:
    """``alexnet experiment report FOLDER... --markdown [--into DOC]``: the tables of committed results."""
    from alexnet.experiment.summary import replace_block, report_markdown
    if not args.folders:
        raise ValueError("experiment report needs at least one folder of results (e.g. "
                         "benchmarks/results/experiments-cpu-2026-12-02-3-seeds)")
    block = report_markdown(args.folders)
    if args.into:
        doc = Path(args.into)
        doc.write_text(replace_block(doc.read_text(), block, str(doc)))
        print(f"wrote the experiment tables into {doc}", file=sys.stderr)
    else:
        print(block, end="")
    return 0


def run_figure1_command(args: argparse.Namespace) -> int:
    """``alexnet experiment figure1``: ReLU against tanh as the paper's Figure 1 ran them."""
    from alexnet.experiment.figure1 import LR_GRID, MAX_EXTENSIONS, run_figure1
    if args.report_only or args.runs_from:
        raise ValueError("figure1 takes neither --report-only nor --runs-from (run it again: finished runs are kept)")
    out = Path(args.out or f"runs/experiments/figure1-{args.preset}")
    result = run_figure1(preset=args.preset, seeds=args.seeds, seed=args.seed, data=args.data, dataset=args.dataset,
                         out=out, device=args.device, grid=args.lr_grid or LR_GRID,
                         extend=MAX_EXTENSIONS if args.extend_grid is None else args.extend_grid,
                         say=lambda text: print(text, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=1) if args.json else (out / "results.md").read_text())
    return 0


def lr_grid(text: str) -> list[float]:
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give rates separated by commas, e.g. 0.005,0.01,0.02") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError(f"{text!r}: the rates must be positive")
    return rates


def run_experiment_command(args: argparse.Namespace) -> int:
    from alexnet.experiment import run_experiment
    if args.name == "report":
        return run_report_command(args)
    if args.folders:
        raise ValueError(f"unexpected arguments {' '.join(args.folders)}: only `experiment report` takes folders")
    if args.name == "figure1":
        return run_figure1_command(args)
    if args.lr_grid or args.extend_grid is not None:
        raise ValueError("--lr-grid and --extend-grid belong to `experiment figure1` (the other experiments share "
                         "the recipe's lr)")
    result = run_experiment(args.name, preset=args.preset, seeds=args.seeds, seed=args.seed, data=args.data,
                            dataset=args.dataset, out=args.out, device=args.device,
                            say=lambda text: print(text, file=sys.stderr, flush=True), train=not args.report_only,
                            runs_from=args.runs_from or ())
    results = result if isinstance(result, list) else [result]
    out = Path(args.out or f"runs/experiments/{args.name}-{args.preset}")
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print((out / "results.md").read_text())
        print(f"wrote {out / 'results.md'}" + (f", {out / 'results.json'}" if len(results) == 1 else ""))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from alexnet.experiment import NAMES, PRESETS
    p = subparsers.add_parser(
        "experiment", help="rerun one of the paper's ablations (ReLU/tanh, LRN, pooling, towers, dropout, "
                           "augmentation)",
        description="Train every variant of one of the paper's comparisons with the same recipe, data, data "
                    "order, steps and seeds (only the switch under test differs), and write results.json, "
                    "results.md (the paper's figure beside each result) and a figure of the training curves. "
                    "An interrupted experiment resumes: finished runs are never rerun.")
    p.add_argument("name", choices=[*NAMES, "all", "figure1", "report"], metavar="NAME",
                   help=f"{', '.join(NAMES)} or all; figure1 (ReLU vs tanh as the paper ran it: each at its own "
                        f"learning rate, no regularisation); or report FOLDER... (the markdown of finished results)")
    p.add_argument("folders", nargs="*", metavar="FOLDER",
                   help="with report: folders of results (results.json, <name>/results.json or <name>.json)")
    p.add_argument("--preset", choices=list(PRESETS), default="cpu",
                   help="smoke (seconds, for tests), cpu (minutes on 2 cores; default), gpu (224 px, whole epochs)")
    p.add_argument("--seeds", type=positive_int, default=1, help="seeds per variant (default 1)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="first seed (default 0)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--data", help="a prepared store or an ImageFolder (train/ + val/)")
    g.add_argument("--dataset", choices=["fashion-mnist"], help="a named data set (default: fashion-mnist)")
    p.add_argument("--out", help="output directory (default runs/experiments/NAME-PRESET)")
    add_device(p)
    p.add_argument("--json", action="store_true", help="print results.json instead of the table")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: write the results of the runs finished so far (the rest are listed as "
                        "not finished)")
    p.add_argument("--runs-from", action="append", metavar="RESULTS_JSON",
                   help="an earlier results.json of the same experiment, preset, data and config (another "
                        "machine's seeds, or a checkout whose run folders are gone): its finished runs count as "
                        "finished here and are not trained again; repeat for several files (with all: each "
                        "experiment's own results.json)")
    p.add_argument("--lr-grid", type=lr_grid, metavar="R1,R2,...",
                   help="with figure1: the learning rates each activation chooses from on the validation split "
                        "(default 0.0025,0.005,0.01,0.02,0.04)")
    p.add_argument("--extend-grid", type=int, metavar="N",
                   help="with figure1: where the rate chosen is the largest (smallest) tried, try twice (half) it, "
                        "at most N times per activation (default 3; 0: the grid only)")
    p.add_argument("--markdown", action="store_true",
                   help="with report: print the markdown tables and verdicts (the default output of report)")
    p.add_argument("--into", metavar="DOC",
                   help="with report: replace the generated block of DOC (docs/REPRODUCTION.md) with the tables")
    p.set_defaults(func=run_experiment_command)
