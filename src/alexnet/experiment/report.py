"""An experiment's summary files: ``results.json``, ``results.md`` (the paper beside each
result) and ``<name>.png`` (training curves of every variant on one figure).

Verdicts (written into results.md with each comparison):

- test error: the paired difference better − worse per seed (same seed: same data order), in
  points; "within the spread" when its mean is no larger than its standard deviation over seeds,
  else "as the paper" (the paper's better variant wins) or "the other way". One seed has no
  spread: the verdict then says so.
- steps to the target training error: the ratio worse / better per seed; "as the paper" when every
  seed's ratio is above 1 (or only the better variant reached the target), "the other way" when
  every one is below 1, else "within the spread".
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..train.curves import curves_figure
from ..train.log import LOG_NAME

WITHIN, AS_PAPER, OTHER_WAY = "within the spread", "as the paper", "the other way"


def _pct(mean, std, digits=2) -> str:
    if mean is None:
        return "–"
    text = f"{100 * mean:.{digits}f}"
    return text + (f" ± {100 * std:.{digits}f}" if std is not None else "")


def _done(variant: dict) -> dict[int, dict]:
    return {r["seed"]: r for r in variant["runs"] if r["status"] == "done"}


def compare(result: dict[str, Any], comparison: dict[str, Any]) -> dict[str, Any]:
    """The measured side of one of the paper's comparisons (see the module docstring)."""
    by = {v["name"]: v for v in result["variants"]}
    better, worse = comparison["better"], comparison["worse"]
    if better not in by or worse not in by:
        return {"verdict": "not run", "text": "not run on this data"}
    a, b = _done(by[better]), _done(by[worse])
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return {"verdict": "no finished pair", "text": "–"}
    if comparison["measure"] == "test_error":
        out: dict[str, Any] = {}
        for key, label in (("test_error", "top-1"), ("test_top5_error", "top-5")):
            if any(a[s].get(key) is None or b[s].get(key) is None for s in seeds):
                continue
            d = [100 * (a[s][key] - b[s][key]) for s in seeds]
            mean = statistics.fmean(d)
            sd = statistics.stdev(d) if len(d) > 1 else None
            if sd is None:
                verdict = (AS_PAPER if mean < 0 else OTHER_WAY if mean > 0 else WITHIN) + " (one seed: no spread)"
            else:
                verdict = WITHIN if abs(mean) <= sd else AS_PAPER if mean < 0 else OTHER_WAY
            out[label] = {"points": d, "mean": mean, "std": sd, "verdict": verdict}
        top1 = out.get("top-1")
        text = "; ".join(f"{label} {v['mean']:+.2f}" + (f" ± {v['std']:.2f}" if v["std"] is not None else "")
                         + " points" for label, v in out.items())
        return {"verdict": top1["verdict"] if top1 else "–", "differences": out,
                "text": f"{text} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}, paired)"}
    ratios, parts = [], []
    for s in seeds:
        sa, sb = a[s].get("steps_to_target"), b[s].get("steps_to_target")
        if sa is not None and sb is not None:
            ratios.append(sb / sa)
            parts.append(f"{sb}/{sa} = {sb / sa:.2f}")
        elif sa is not None:
            ratios.append(float("inf"))
            ran = b[s].get("steps")
            parts.append(f"{worse} not in its {ran} steps, {better} at {sa}" + (f" (> {ran / sa:.1f})" if ran else ""))
        elif sb is not None:
            ratios.append(0.0)
            ran = a[s].get("steps")
            parts.append(f"{better} not in its {ran} steps, {worse} at {sb}" + (f" (< {sb / ran:.2f})" if ran else ""))
        else:
            parts.append("neither reached it")
    if not ratios:
        verdict = "neither reached the target"
    elif all(r > 1 for r in ratios):
        verdict = AS_PAPER
    elif all(r < 1 for r in ratios):
        verdict = OTHER_WAY
    else:
        verdict = WITHIN
    if len(seeds) == 1 and ratios:
        verdict += " (one seed: no spread)"
    finite = [r for r in ratios if 0 < r < float("inf")]
    return {"verdict": verdict, "ratios": ratios,
            "mean_ratio": statistics.fmean(finite) if finite and len(finite) == len(ratios) else None,
            "text": f"steps {worse} / {better}: " + "; ".join(parts)}


def _paper_text(c: dict[str, Any]) -> str:
    nums = []
    if c.get("top1_change") is not None:
        nums.append(f"top-1 {c['top1_change']:+.1f}")
    if c.get("top5_change") is not None:
        nums.append(f"top-5 {c['top5_change']:+.1f}")
    if c.get("steps_ratio") is not None:
        nums.append(f"steps ratio ≈ {c['steps_ratio']:g}")
    return (", ".join(nums) + " — " if nums else "") + c["claim"]


def experiment_markdown(result: dict[str, Any]) -> str:
    target = result["target_train_error"]
    has_top5 = any("test_top5_error" in v["mean"] for v in result["variants"])
    lines = [f"## {result['experiment']}: {result['question']}", "",
             f"Preset `{result['preset']}` on {result['data']}; seeds {', '.join(map(str, result['seeds']))}; "
             + (f"{result['steps_per_run']} steps of {result['config']['batch_size']} images per run. "
                if result.get("steps_per_run") else "")
             + f"Scale: {result['scale']}. Target training error {100 * target:.1f}% ({result['target_rule']}). "
             f"Values are mean ± standard deviation over seeds, in %.", ""]
    head = ["variant", "test top-1 error"] + (["test top-5 error"] if has_top5 else []) + \
        ["training error", f"steps to {100 * target:.0f}% training error", "images/s"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in result["variants"]:
        m, s = v["mean"], v["std"]
        steps = "–" if m.get("steps_to_target") is None else (
            f"{m['steps_to_target']:.0f}" + (f" ± {s['steps_to_target']:.0f}" if s.get("steps_to_target") else ""))
        row = [v["name"], _pct(m.get("test_error"), s.get("test_error"))]
        if has_top5:
            row.append(_pct(m.get("test_top5_error"), s.get("test_top5_error")))
        row += [_pct(m.get("train_error"), s.get("train_error")), f"{steps} (reached {v['reached_target']})",
                "–" if m.get("images_per_s") is None else f"{m['images_per_s']:.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "| comparison | measured | the paper | verdict |", "|---|---|---|---|"]
    for c in result["paper"]["comparisons"]:
        got = compare(result, c)
        what = "test error" if c["measure"] == "test_error" else "steps to the target"
        lines.append(f"| {c['better']} vs {c['worse']}, {what} | {got['text']} | {_paper_text(c)} | "
                     f"{got['verdict']} |")
    for nr in result.get("not_run", []):
        lines.append(f"\nNot run: {nr['name']}: {nr['reason']}.")
    if result.get("not_finished"):
        runs = ", ".join(f"{r['variant']} seed {r['seed']}" for r in result["not_finished"])
        lines.append(f"\nNot finished yet (left out of the means above; the same command without "
                     f"--report-only trains them): {runs}.")
    if result.get("imported"):
        by_file: dict[str, list[str]] = {}
        for r in result["imported"]:
            by_file.setdefault(r["from"], []).append(f"{r['variant']} seed {r['seed']}")
        for path, runs in by_file.items():
            lines.append(f"\nRead from an earlier results file (--runs-from {path}; trained elsewhere, not in "
                         f"this folder): {', '.join(runs)}.")
    for note in result.get("notes", []):
        lines.append(f"\nNote: {note}.")
    failed = [f"{v['name']} seed {r['seed']}: {r.get('error')}" for v in result["variants"] for r in v["runs"]
              if r["status"] != "done"]
    for f in failed:
        lines.append(f"\nFailed run: {f}")
    return "\n".join(lines) + "\n"


def with_verdicts(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with each paper comparison's measured side (``measured``) filled in."""
    comps = [{**c, "measured": compare(result, c)} for c in result["paper"]["comparisons"]]
    return {**result, "paper": {**result["paper"], "comparisons": comps}}


def write_report(out: Path, results: list[dict[str, Any]], combined: bool = False) -> None:
    """results.json (one experiment), results.md and the curves figure; for ``all`` (combined),
    a results.md of every experiment in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if combined:
        text = "# The paper's ablations, re-measured\n\n" + "\n".join(experiment_markdown(r) for r in results)
        atomic_write_text(out / "results.md", text)
        return
    result = results[0]
    atomic_write_text(out / "results.json", json.dumps(with_verdicts(result), indent=1) + "\n")
    atomic_write_text(out / "results.md", f"# Experiment `{result['experiment']}`\n\n" + experiment_markdown(result))
    # the curves of one seed that every variant has a training log for (runs read with --runs-from have none)
    for seed in result["seeds"]:
        runs = {v["name"]: r["run_dir"] for v in result["variants"] for r in v["runs"]
                if r["status"] == "done" and r["seed"] == seed and (Path(r["run_dir"]) / LOG_NAME).is_file()}
        if runs and len(runs) == sum(1 for v in result["variants"] if v["runs"]):
            curves_figure(runs, out / f"{result['experiment']}.png",
                          title=f"{result['experiment']}: {result['question']} (seed {seed})")
            break
