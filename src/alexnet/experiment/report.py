"""An experiment's summary files: ``results.json``, ``results.md`` (the paper beside each
result) and ``<name>.png`` (training curves of every variant on one figure); and the markdown of
committed result files (``alexnet experiment report DIR --markdown``, docs/REPRODUCTION.md §4).

Verdicts (:mod:`.stats`): each comparison pairs the two variants' runs of the same seed (same
seed: same initial draw, data order and augmentation) **on the same host** — two hosts do not
round alike, so a pair from two hosts mixes the host into the difference: such a pair is left
out of the verdict and listed apart. A run's host is its record's ``provenance.host`` with its
``boot_id`` (host names repeat across machines; a boot id does not, so a reboot counts as another
host: the safe side); a run
recorded before runs recorded their host counts as run on the host of the session that wrote the
file it was read from (``imported_from``'s folder), or of the file at hand when it was not read
from another one — so two such runs pair only when they came from one session.

- test error: the paired difference better − worse per seed, in points; its mean and 95 %
  t-interval; "as the paper" when the interval lies below 0, "the other way" when above, else
  "inconclusive" (always so for one pair, which has no interval).
- steps to the target training error: the log of the ratio worse / better per seed, its 95 %
  t-interval, shown as ratios; a run that never reached the target gives a bound (its steps run),
  and a verdict is given only on the side the bounds make conservative.
- where the paper makes no claim (ReLU vs tanh on test error: Figure 1 shows training error only),
  a verdict that would be "as the paper" or "the other way" names the better variant instead.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..provenance import describe
from ..train.curves import curves_figure
from ..train.log import LOG_NAME
from .stats import AS_PAPER, INCONCLUSIVE, OTHER_WAY, Interval, interval, verdict as interval_verdict

__all__ = ["AS_PAPER", "INCONCLUSIVE", "OTHER_WAY", "compare", "experiment_markdown", "run_host", "with_verdicts",
           "write_report"]


def run_host(record: dict[str, Any], source: str = "this file") -> tuple[str, bool]:
    """``(host, recorded)``: the host a run trained on, and whether its record names it (see the
    module docstring for runs that do not)."""
    prov = record.get("provenance") or {}
    if prov.get("host"):
        boot = prov.get("boot_id")
        return (f"{prov['host']} (boot {boot[:8]})" if boot else str(prov["host"])), True
    origin = record.get("imported_from")
    if origin:
        return f"the session that wrote {Path(origin).parent}/", False
    return f"the session that wrote {Path(source).parent}/" if source != "this file" else \
        "the session that wrote this file", False


def _done(variant: dict) -> dict[int, dict]:
    return {r["seed"]: r for r in variant["runs"] if r["status"] == "done"}


def _pairs(result: dict[str, Any], better: str, worse: str, source: str) -> tuple[list, list]:
    """The finished (seed, better run, worse run) of one host, and those of two hosts."""
    by = {v["name"]: v for v in result["variants"]}
    a, b = _done(by[better]), _done(by[worse])
    same, cross = [], []
    for s in sorted(set(a) & set(b)):
        (same if run_host(a[s], source)[0] == run_host(b[s], source)[0] else cross).append((s, a[s], b[s]))
    return same, cross


def _seeds(seeds: list[int]) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def _iv_text(iv: Interval, fmt: str = "{:+.2f}") -> str:
    if iv.low is None:
        return "n = 1: no interval"
    return f"95 % CI [{fmt.format(iv.low)}, {fmt.format(iv.high)}], n = {iv.n}"


def _verdict_text(verdict: str, iv: Interval | None, what: str) -> str:
    if iv is None:
        return what
    if verdict != INCONCLUSIVE:
        return verdict
    if iv.low is None:
        return f"{INCONCLUSIVE} (one pair: no interval)"
    return f"{INCONCLUSIVE} (the interval holds {what})"


def _error_difference(same: list, cross: list, key: str, paper: float | None) -> dict[str, Any] | None:
    if any(p[1].get(key) is None or p[2].get(key) is None for p in same + cross):
        return None
    points = [100 * (a[key] - b[key]) for _, a, b in same]
    out: dict[str, Any] = {"seeds": [s for s, _, _ in same], "points": points,
                           "cross_host": [{"seed": s, "points": 100 * (a[key] - b[key])} for s, a, b in cross]}
    if not points:
        return {**out, "verdict": "no same-host pair", "text": "no pair of runs on one host"}
    iv = interval(points)
    verdict = interval_verdict(iv, paper_sign=-1)
    text = f"{iv.mean:+.2f} points ({_iv_text(iv)}; {_seeds(out['seeds'])})"
    if paper is not None and iv.low is not None:
        text += f"; the paper's {paper:+.1f} is {'inside' if iv.contains(paper) else 'outside'} the interval"
    return {**out, "n": iv.n, "mean": iv.mean, "sd": iv.sd, "low": iv.low, "high": iv.high,
            "verdict": _verdict_text(verdict, iv, "0"), "text": text}


def _compare_errors(same: list, cross: list, comparison: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, label, paper in (("test_error", "top-1", comparison.get("top1_change")),
                              ("test_top5_error", "top-5", comparison.get("top5_change"))):
        d = _error_difference(same, cross, key, paper)
        if d is not None:
            out[label] = d
    top1 = out.get("top-1")
    text = "; ".join(f"{label} {d['text']}" for label, d in out.items())
    left_out = top1["cross_host"] if top1 else []
    if left_out:
        text += " — left out, runs on two hosts: " + ", ".join(f"seed {c['seed']} {c['points']:+.2f}"
                                                               for c in left_out)
    return {"verdict": top1["verdict"] if top1 else "–", "differences": out, "cross_host": left_out,
            "text": text}


def _log_ratio(a: dict, b: dict, better: str, worse: str) -> tuple[float | None, str, str]:
    """log(steps worse / steps better) for one pair, its kind ("=", "≥" or "≤") and its words."""
    sa, sb = a.get("steps_to_target"), b.get("steps_to_target")
    if sa is not None and sb is not None:
        return math.log(sb / sa), "=", f"{sb}/{sa} = {sb / sa:.2f}"
    ran_a, ran_b = a.get("steps"), b.get("steps")
    if sa is not None and ran_b:
        return math.log(ran_b / sa), "≥", f"{worse} not in its {ran_b} steps, {better} at {sa} (≥ {ran_b / sa:.2f})"
    if sb is not None and ran_a:
        return math.log(sb / ran_a), "≤", f"{better} not in its {ran_a} steps, {worse} at {sb} (≤ {sb / ran_a:.2f})"
    return None, "", "neither reached it"


def _compare_steps(same: list, cross: list, better: str, worse: str) -> dict[str, Any]:
    logs, kinds, parts = [], [], []
    for s, a, b in same:
        value, kind, words = _log_ratio(a, b, better, worse)
        parts.append(f"seed {s}: {words}")
        if value is not None:
            logs.append(value)
            kinds.append(kind)
    left_out = [f"seed {s}: {_log_ratio(a, b, better, worse)[2]}" for s, a, b in cross]
    text = f"steps {worse} / {better}: " + "; ".join(parts)
    out: dict[str, Any] = {"ratios": [math.exp(v) for v in logs], "kinds": kinds, "cross_host": left_out}
    if not logs:
        verdict = "no same-host pair" if not same else "neither reached the target"
    else:
        iv = interval(logs)
        verdict = interval_verdict(iv, paper_sign=+1)
        if (verdict == AS_PAPER and "≤" in kinds) or (verdict == OTHER_WAY and "≥" in kinds):
            verdict = INCONCLUSIVE          # bounds on the other side: the true ratios could cross 1
        bound = "≥ " if set(kinds) == {"≥"} else "≤ " if set(kinds) == {"≤"} else ""
        text += f"; geometric mean {bound}{math.exp(iv.mean):.2f}"
        if iv.low is not None:
            text += f" (95 % CI of the ratio [{math.exp(iv.low):.2f}, {math.exp(iv.high):.2f}], n = {iv.n}" + \
                    (", of the bounds where a run never reached the target" if bound or len(set(kinds)) > 1 else "") \
                    + ")"
        else:
            text += " (n = 1: no interval)"
        verdict = _verdict_text(verdict, iv, "a ratio of 1")
        out.update(n=iv.n, low=iv.low, high=iv.high, mean_log=iv.mean)
    if left_out:
        text += " — left out, runs on two hosts: " + "; ".join(left_out)
    return {**out, "verdict": verdict, "text": text}


def compare(result: dict[str, Any], comparison: dict[str, Any], source: str = "this file") -> dict[str, Any]:
    """The measured side of one of the paper's comparisons (see the module docstring); ``source``
    names the file ``result`` was read from (the host of its runs that record none)."""
    names = {v["name"] for v in result["variants"]}
    better, worse = comparison["better"], comparison["worse"]
    if better not in names or worse not in names:
        return {"verdict": "not run", "text": "not run on this data"}
    same, cross = _pairs(result, better, worse, source)
    if not same and not cross:
        return {"verdict": "no finished pair", "text": "–"}
    if comparison["measure"] == "test_error":
        out = _compare_errors(same, cross, comparison)
    else:
        out = _compare_steps(same, cross, better, worse)
    if not _paper_claims(result.get("experiment", ""), comparison):
        out["verdict"] = _without_claim(out["verdict"], better, worse, comparison["measure"])
    return out


def _paper_claims(experiment: str, comparison: dict[str, Any]) -> bool:
    """Whether the paper makes a claim on this comparison (the ablation's definition says; results
    files written before it did carry no such key)."""
    from .ablations import ABLATIONS
    abl = ABLATIONS.get(experiment)
    for c in abl.comparisons if abl else ():
        if (c.better, c.worse, c.measure) == (comparison["better"], comparison["worse"], comparison["measure"]):
            return c.paper_claims
    return True


def _without_claim(verdict: str, better: str, worse: str, measure: str) -> str:
    """A verdict where the paper says nothing: which variant was better, never "as the paper"."""
    what = "lower error" if measure == "test_error" else "fewer steps"
    if verdict.startswith(AS_PAPER):
        return f"{better}: {what} (the paper makes no claim here)"
    if verdict.startswith(OTHER_WAY):
        return f"{worse}: {what} (the paper makes no claim here)"
    return verdict


def _pct(mean, std, digits=2) -> str:
    if mean is None:
        return "–"
    text = f"{100 * mean:.{digits}f}"
    return text + (f" ± {100 * std:.{digits}f}" if std is not None else "")


def _paper_text(c: dict[str, Any]) -> str:
    nums = []
    if c.get("top1_change") is not None:
        nums.append(f"top-1 {c['top1_change']:+.1f}")
    if c.get("top5_change") is not None:
        nums.append(f"top-5 {c['top5_change']:+.1f}")
    if c.get("steps_ratio") is not None:
        nums.append(f"steps ratio ≈ {c['steps_ratio']:g}")
    return (", ".join(nums) + " — " if nums else "") + c["claim"]


def _dirty(run: dict[str, Any]) -> bool:
    return bool((run.get("provenance") or {}).get("dirty"))


def _variant_rows(result: dict[str, Any]) -> list[str]:
    target = result["target_train_error"]
    has_top5 = any("test_top5_error" in v["mean"] for v in result["variants"])
    head = ["variant", "n", "test top-1 error"] + (["test top-5 error"] if has_top5 else []) + \
        ["training error", f"steps to {100 * target:.0f}% training error", "images/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in result["variants"]:
        m, s = v["mean"], v["std"]
        done = [r for r in v["runs"] if r["status"] == "done"]
        steps = "–" if m.get("steps_to_target") is None else (
            f"{m['steps_to_target']:.0f}" + (f" ± {s['steps_to_target']:.0f}" if s.get("steps_to_target") else ""))
        name = v["name"] + (" (dirty tree)" if any(_dirty(r) for r in done) else "")
        row = [name, str(len(done)), _pct(m.get("test_error"), s.get("test_error"))]
        if has_top5:
            row.append(_pct(m.get("test_top5_error"), s.get("test_top5_error")))
        row += [_pct(m.get("train_error"), s.get("train_error")), f"{steps} (reached {v['reached_target']})",
                "–" if m.get("images_per_s") is None else f"{m['images_per_s']:.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _hosts_lines(result: dict[str, Any], source: str) -> list[str]:
    """Which runs trained where (how the pairs were formed), and which ran from a dirty tree."""
    by_host: dict[str, list[str]] = {}
    unrecorded, dirty = False, []
    for v in result["variants"]:
        for r in v["runs"]:
            if r["status"] != "done":
                continue
            host, recorded = run_host(r, source)
            unrecorded |= not recorded
            by_host.setdefault(host, []).append(f"{v['name']} {r['seed']}")
            if _dirty(r):
                dirty.append(f"{v['name']} seed {r['seed']} ({(r['provenance'].get('commit') or '?')[:7]})")
    lines = ["", "Runs by host (variant seed): " + "; ".join(f"{h}: {', '.join(runs)}" for h, runs in by_host.items())
             + "."]
    if unrecorded:
        lines.append("Runs that record no host count as trained on the host of the session that wrote them.")
    if dirty:
        lines.append("**Trained from a tree with uncommitted changes** (the commit does not say what ran): "
                     + ", ".join(dirty) + ".")
    return lines


def _provenance_line(result: dict[str, Any]) -> str:
    prov = result.get("provenance")
    if not prov:
        return "This file records no provenance (written before result files recorded it)."
    return f"Written by `{prov.get('command')}` on {prov.get('date')}: {describe(prov)}" + \
        (" — **from a tree with uncommitted changes**" if prov.get("dirty") else "") + "."


def experiment_markdown(result: dict[str, Any], source: str = "this file", level: str = "##") -> str:
    target = result["target_train_error"]
    lines = [f"{level} {result['experiment']}: {result['question']}", "",
             f"Preset `{result['preset']}` on {result['data']}; seeds {', '.join(map(str, result['seeds']))}; "
             + (f"{result['steps_per_run']} steps of {result['config']['batch_size']} images per run. "
                if result.get("steps_per_run") else "")
             + f"Scale: {result['scale']}. Target training error {100 * target:.1f}% ({result['target_rule']}). "
             "In the table, n is the number of finished seeds and a ± b is their mean ± sample standard "
             "deviation, in %.", "", _provenance_line(result), ""]
    lines += _variant_rows(result)
    lines += ["", "Comparisons pair the two variants' runs of one seed on one host: the mean paired difference "
              "(better − worse, in points of error: negative favours the paper's better variant; for steps, the "
              "ratio worse / better) with its 95 % t-interval over the n pairs. The verdict is \"as the paper\" "
              "or \"the other way\" only when that interval excludes no difference.", "",
              "| comparison | measured | the paper | verdict |", "|---|---|---|---|"]
    for c in result["paper"]["comparisons"]:
        got = compare(result, c, source)
        what = "test error" if c["measure"] == "test_error" else "steps to the target"
        lines.append(f"| {c['better']} vs {c['worse']}, {what} | {got['text']} | {_paper_text(c)} | "
                     f"{got['verdict']} |")
    lines += _hosts_lines(result, source)
    lines += _footnotes(result)
    return "\n".join(lines) + "\n"


def _footnotes(result: dict[str, Any]) -> list[str]:
    lines = []
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
    for v in result["variants"]:
        for r in v["runs"]:
            if r["status"] != "done":
                lines.append(f"\nFailed run: {v['name']} seed {r['seed']}: {r.get('error')}")
    return lines


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
