"""Bar chart of training images/s per configuration from the JSON files of train_throughput.py.

    python benchmarks/plot_results.py                       # benchmarks/results/*.json → docs/images/throughput.png
    python benchmarks/plot_results.py benchmarks/results/x.json --out /tmp/x.png

One panel per result file (a device and date), one horizontal bar per measured configuration
(model only, end to end, baseline, evaluation, per-stage rows), on a log scale with the
paper's 240 images/s marked. CPU results are titled as CPU runs, and ``--quick`` runs as smoke
tests, so a demonstration chart is never mistaken for a GPU measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import PAPER_IMAGES_PER_S, RESULTS_DIR  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "throughput.png"
COLOURS = {"model_only": "#4c72b0", "end_to_end": "#55a868", "baseline": "#c44e52", "eval": "#8172b2",
           "stage": "#937860"}
REQUIRED = ("device", "date", "configs")


def load_result(path: Path) -> dict:
    """One result file, checked for the keys the chart needs (ValueError naming the file if not)."""
    try:
        result = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable JSON result of train_throughput.py ({e})") from e
    missing = [k for k in REQUIRED if k not in result] if isinstance(result, dict) else list(REQUIRED)
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}; is it a train_throughput.py result?")
    if not result["configs"]:
        raise ValueError(f"{path}: holds no measured configurations")
    return result


def panel_title(result: dict) -> str:
    device = result["device"]
    title = f"{device} — {result['date']}"
    if device == "cpu":
        cores = result.get("device_info", {}).get("cpu_count")
        title = ((f"CPU ({cores} cores)" if cores else "CPU")
                 + f" — {result['date']} — a CPU run, not a GPU measurement")
    if result.get("quick"):
        title += "  [--quick smoke run: not a measurement]"
    return title


def plot(results: list[dict], out: Path) -> Path:
    """Draw one panel per result into ``out`` (PNG); returns the path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    heights = [max(2.0, 0.32 * len(r["configs"]) + 1.2) for r in results]
    fig, axes = plt.subplots(len(results), 1, figsize=(11, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, result in zip(axes[:, 0], results):
        rows = result["configs"]
        labels = [f"{r['section'].replace('_', ' ')}: {r['name']}" for r in rows]
        values = [r["images_per_s"] for r in rows]
        ys = range(len(rows))
        ax.barh(ys, values, color=[COLOURS.get(r["section"], "grey") for r in rows])
        for y, v in zip(ys, values):
            ax.text(v, y, f" {v:,.0f}" if v >= 10 else f" {v:.2g}", va="center", fontsize=7)
        ax.set_yticks(list(ys), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.axvline(PAPER_IMAGES_PER_S, color="black", linestyle="--", linewidth=1)
        ax.set_xlabel("images / s (log scale); dashed: the paper's 2 × GTX 580, ≈ 240 images/s")
        ax.set_title(panel_title(result), fontsize=10)
        left = min(values + [PAPER_IMAGES_PER_S])
        right = max(values + [PAPER_IMAGES_PER_S])
        ax.set_xlim(left / 2, right * 3)
    present = {r["section"] for result in results for r in result["configs"]}
    axes[0, 0].legend(handles=[Patch(color=c, label=s.replace("_", " ")) for s, c in COLOURS.items()
                               if s in present], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="*", type=Path,
                   help=f"result JSON files (default: {RESULTS_DIR}/*.json)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG to write (default {DEFAULT_OUT})")
    args = p.parse_args(argv)
    results = []
    if args.results:
        try:
            results = [load_result(path) for path in args.results]
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    else:
        # The folder also holds other benchmarks' results (data_throughput.py): take only ours.
        for path in sorted(RESULTS_DIR.glob("*.json")):
            try:
                results.append(load_result(path))
            except ValueError as e:
                print(f"skipping {e}", file=sys.stderr)
        if not results:
            print(f"error: no train_throughput.py results in {RESULTS_DIR}; run benchmarks/train_throughput.py "
                  f"first", file=sys.stderr)
            return 2
    print(f"wrote {plot(results, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
