"""Verdicts from 95 % t-intervals of paired differences on one host, and the experiment tables of
docs/REPRODUCTION.md regenerated from the committed result files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from alexnet.cli.main import main
from alexnet.experiment.report import compare, run_host
from alexnet.experiment.stats import T_975, interval, t_975, verdict
from alexnet.experiment.summary import BEGIN, END, replace_block, report_markdown

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = "benchmarks/results/experiments-cpu-2026-12-02-3-seeds"
FIVE_SEEDS = "benchmarks/results/experiments-cpu-2026-12-05-5-seeds"     # the tables docs/REPRODUCTION.md shows


def test_the_t_table_is_students_t():
    stats = pytest.importorskip("scipy.stats")
    for df in range(1, 31):
        # the table keeps 6 decimals: rounding differs by at most 5e-7
        assert T_975[df - 1] == pytest.approx(stats.t.ppf(0.975, df), abs=6e-7), df
    for df in (31, 40, 60, 120, 1000):
        # Cornish–Fisher to 1/df^4: its error is largest at df 31, 3e-8
        assert t_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-7), df
    with pytest.raises(ValueError, match="at least 1 degree"):
        t_975(0)


def test_the_interval_of_the_audits_towers_example():
    # the issue's audit: towers' three paired differences, 95 % CI [−1.30, +0.37]
    iv = interval([-0.70, -0.08, -0.61])
    assert iv.n == 3 and iv.mean == pytest.approx(-0.4633, abs=1e-4)       # (−0.70 − 0.08 − 0.61) / 3
    assert (round(iv.low, 2), round(iv.high, 2)) == (-1.30, 0.37)
    assert verdict(iv) == "inconclusive"
    assert verdict(interval([-3.0, -2.0, -4.0])) == "as the paper"
    assert verdict(interval([3.0, 2.0, 4.0])) == "the other way"
    assert verdict(interval([3.0, 2.0, 4.0]), paper_sign=+1) == "as the paper"
    one = interval([-5.0])
    assert one.low is None and verdict(one) == "inconclusive"              # one pair: no interval
    # the old rule (|mean| > SD) called this "as the paper"; t with 2 df does not
    assert abs(iv.mean) > iv.sd


def _run(seed, error, steps=None, host=None, **extra):
    run = {"seed": seed, "status": "done", "test_error": error, "steps_to_target": steps, "steps": 900, **extra}
    if host:
        run["provenance"] = {"host": host, "dirty": False, "commit": "abc1234"}
    return run


def _result(a_runs, b_runs):
    return {"variants": [{"name": "a", "runs": a_runs}, {"name": "b", "runs": b_runs}]}


def test_pairs_are_formed_on_one_host_and_cross_host_pairs_are_listed_apart():
    result = _result([_run(0, 0.10, host="h1"), _run(1, 0.11, host="h1"), _run(2, 0.12, host="h2")],
                     [_run(0, 0.13, host="h1"), _run(1, 0.15, host="h1"), _run(2, 0.10, host="h1")])
    c = compare(result, {"better": "a", "worse": "b", "measure": "test_error"})
    top1 = c["differences"]["top-1"]
    assert top1["seeds"] == [0, 1] and top1["points"] == pytest.approx([-3.0, -4.0])   # float64 of 100 × (0.10 − 0.13)
    assert c["cross_host"] == [{"seed": 2, "points": pytest.approx(2.0)}]
    # the t-interval of [−3, −4] with 1 df: −3.5 ± 12.706 × 0.7071 / √2 = −3.5 ± 6.35, holds 0
    assert top1["low"] == pytest.approx(-3.5 - 12.706205 * 0.5, abs=1e-5)
    assert c["verdict"].startswith("inconclusive") and "seed 2 +2.00" in c["text"]


def test_runs_that_record_no_host_pair_only_within_one_session():
    old = "results/old-session/towers.json"
    imported = dict(imported_from=old)
    result = _result([_run(0, 0.10, **imported), _run(1, 0.10, **imported)],
                     [_run(0, 0.12, **imported), _run(1, 0.13)])
    assert run_host(result["variants"][0]["runs"][0], "new/towers.json") == ("the session that wrote results/old-session/",
                                                                             False)
    c = compare(result, {"better": "a", "worse": "b", "measure": "test_error"}, source="new/towers.json")
    assert c["differences"]["top-1"]["seeds"] == [0] and [x["seed"] for x in c["cross_host"]] == [1]
    assert c["verdict"] == "inconclusive (one pair: no interval)"


def test_steps_ratios_use_bounds_only_on_their_conservative_side():
    result = _result([_run(s, 0.1, steps) for s, steps in enumerate([100, 120, 90])],
                     [_run(s, 0.2, steps) for s, steps in enumerate([600, None, 500])])
    c = compare(result, {"better": "a", "worse": "b", "measure": "steps_to_target"})
    assert c["ratios"] == pytest.approx([6.0, 7.5, 500 / 90])       # 900 / 120: a lower bound for seed 1
    assert c["kinds"] == ["=", "≥", "="] and c["verdict"] == "as the paper"
    assert "b not in its 900 steps, a at 120 (≥ 7.50)" in c["text"]
    # the better variant never reaching the target gives an upper bound: never "as the paper" from it
    flipped = _result([_run(0, 0.1, 100), _run(1, 0.1, None), _run(2, 0.1, 100)],
                      [_run(0, 0.2, 600), _run(1, 0.2, 5000), _run(2, 0.2, 700)])
    got = compare(flipped, {"better": "a", "worse": "b", "measure": "steps_to_target"})
    assert "≤" in got["kinds"] and got["verdict"].startswith("inconclusive")


def test_the_committed_results_give_the_audits_intervals():
    path = ROOT / COMMITTED / "lrn.json"
    lrn = json.loads(path.read_text())
    c = compare(lrn, lrn["paper"]["comparisons"][0], str(path.relative_to(ROOT)))
    top1 = c["differences"]["top-1"]
    # the audit: LRN's CI [−0.46, +1.03] excludes the paper's −1.4
    assert (round(top1["low"], 2), round(top1["high"], 2)) == (-0.46, 1.03) and top1["n"] == 3
    assert "the paper's -1.4 is outside the interval" in c["text"] and c["verdict"].startswith("inconclusive")
    towers = json.loads((ROOT / COMMITTED / "towers.json").read_text())
    t = compare(towers, towers["paper"]["comparisons"][0], f"{COMMITTED}/towers.json")
    # the only pair trained on one host gives −0.08; seeds 0 and 2 paired runs from two sessions
    assert t["differences"]["top-1"]["points"] == pytest.approx([-0.08], abs=1e-9)   # float64 of 0.1444 − 0.1452
    assert [x["seed"] for x in t["cross_host"]] == [0, 2]


def test_where_the_paper_makes_no_claim_the_verdict_names_the_better_variant_not_the_paper():
    # ReLU vs tanh on test error: Figure 1 shows training error only, so a clear difference is "relu:
    # lower error", never "as the paper"; the steps comparison, which the paper does claim, keeps it
    activation = json.loads((ROOT / COMMITTED / "activation.json").read_text())
    by = {(c["measure"]): c for c in activation["paper"]["comparisons"]}
    test = compare(activation, by["test_error"], f"{COMMITTED}/activation.json")
    assert test["differences"]["top-1"]["high"] < 0          # the interval lies below 0: relu is better
    assert test["verdict"] == "relu: lower error (the paper makes no claim here)"
    assert compare(activation, by["steps_to_target"], f"{COMMITTED}/activation.json")["verdict"] == "as the paper"
    # the same numbers the other way round name tanh
    flipped = {**activation, "variants": [{**v, "runs": [{**r, "test_error": 1 - r["test_error"]} for r in v["runs"]]}
                                          for v in activation["variants"]]}
    assert compare(flipped, by["test_error"], f"{COMMITTED}/activation.json")["verdict"].startswith("tanh: lower")


def test_reproduction_md_holds_the_tables_the_committed_results_give(monkeypatch):
    doc = (ROOT / "docs" / "REPRODUCTION.md").read_text()
    start, end = doc.find(BEGIN), doc.find(END)
    assert 0 <= start < end, "docs/REPRODUCTION.md lost its generated block"
    committed = doc[start:end + len(END)] + "\n"
    monkeypatch.chdir(ROOT)     # the block names the folder as the command was given: relative to the repository
    assert report_markdown([FIVE_SEEDS]) == committed, (
        f"docs/REPRODUCTION.md's experiment tables differ from what {FIVE_SEEDS} gives: run "
        f"`alexnet experiment report {FIVE_SEEDS} --into docs/REPRODUCTION.md`")


def test_reproduction_md_prose_quotes_the_five_seed_intervals_and_times():
    # §4's bullets repeat the generated block's intervals: they must be the files' (a reader who
    # recomputes them gets the same), and the run's duration is its logs'
    doc = (ROOT / "docs" / "REPRODUCTION.md").read_text()
    prose = " ".join(doc[doc.index("## 4. The paper's ablations"):doc.find(BEGIN)].split())
    signed = lambda x: f"{x:+.2f}".replace("-", "−")
    for name in ("lrn", "pooling", "towers", "dropout"):
        result = json.loads((ROOT / FIVE_SEEDS / f"{name}.json").read_text())
        top1 = compare(result, result["paper"]["comparisons"][0], name)["differences"]["top-1"]
        assert top1["n"] == 5 and not top1["cross_host"], name
        assert f"[{signed(top1['low'])}, {signed(top1['high'])}]" in prose, name
        assert signed(top1["mean"]) in prose, name
    dropout = json.loads((ROOT / FIVE_SEEDS / "dropout.json").read_text())
    steps = compare(dropout, dropout["paper"]["comparisons"][1], "dropout")
    assert f"{math.exp(steps['mean_log']):.2f}× (geometric mean, [{math.exp(steps['low']):.2f}, " \
           f"{math.exp(steps['high']):.2f}])" in prose
    events = [json.loads(line) for name in ("lrn", "dropout")
              for line in (ROOT / FIVE_SEEDS / f"{name}.log.jsonl").read_text().splitlines()]
    assert f"From {events[0]['time'][11:19]} to {events[-1]['time'][11:19]} UTC" in prose
    trained = [r for name in ("lrn", "pooling", "towers", "dropout")
               for v in json.loads((ROOT / FIVE_SEEDS / f"{name}.json").read_text())["variants"]
               for r in v["runs"] if "same_run_as" not in r]
    assert f"it trained {len(trained)} runs" in prose
    # the two resumed sessions: augmentation's runs without crops and flips, activation's tanh runs
    resumed = {"augmentation": "none", "activation": "tanh"}
    for name, variant in resumed.items():
        log = [json.loads(line) for line in (ROOT / FIVE_SEEDS / f"{name}.log.jsonl").read_text().splitlines()]
        # each seed's first run_end is its training's end (a later one reads the finished run back)
        ends = [next(i for i, e in enumerate(log) if e["event"] == "run_end" and e["variant"] == variant
                     and e["seed"] == seed) for seed in range(5)]
        first = max(i for i, e in enumerate(log[:ends[0]]) if e["event"] == "run" and e["variant"] == variant)
        assert f"from {log[first]['time'][11:19]} to {log[ends[-1]]['time'][11:19]} UTC" in prose, name
        runs = [r for v in json.loads((ROOT / FIVE_SEEDS / f"{name}.json").read_text())["variants"]
                if v["name"] == variant for r in v["runs"]]
        assert len(runs) == 5 and not any("same_run_as" in r for r in runs), name
        seconds = [r["seconds"] for r in runs]
        assert f"({min(seconds):.1f}–{max(seconds):.1f} s each)" in prose, name
        trained += runs
    assert f"{len(trained)} runs in all" in prose
    assert {(r["provenance"]["commit"][:7], r["provenance"]["dirty"]) for r in trained} == {("340dbe5", False)}
    assert len({r["provenance"]["boot_id"] for r in trained}) == 1           # one host, one boot: same-host pairs
    # the two new bullets quote their experiments' intervals
    for name in resumed:
        result = json.loads((ROOT / FIVE_SEEDS / f"{name}.json").read_text())
        comparison = [c for c in result["paper"]["comparisons"] if c["measure"] == (
            "steps_to_target" if name == "activation" else "test_error")][0]
        c = compare(result, comparison, name)
        if name == "activation":
            assert f"ratio ≥ {math.exp(c['mean_log']):.2f}" in prose
            assert f"95 % CI [{math.exp(c['low']):.2f}, {math.exp(c['high']):.2f}]" in prose
        else:
            top1 = c["differences"]["top-1"]
            assert f"{signed(top1['mean'])} points ([{signed(top1['low'])}, {signed(top1['high'])}]" in prose


def test_report_command_prints_and_rewrites_only_its_block(tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Title\n\nbefore\n\n{BEGIN} x`: do not edit -->\nstale\n{END}\n\nafter\n")
    folder = str(ROOT / COMMITTED)
    assert main(["experiment", "report", folder, "--into", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith(f"{END}\n\nafter\n")
    assert "stale" not in text and "| towers | two-towers vs one-tower, test error |" in text
    assert main(["experiment", "report", folder, "--markdown"]) == 0
    assert capsys.readouterr().out == report_markdown([folder])
    assert main(["experiment", "report", str(tmp_path), "--markdown"]) == 2
    assert "no experiment results here" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no generated block"):
        replace_block("# nothing\n", "x")


@pytest.mark.parametrize("folder", [FIVE_SEEDS, COMMITTED, "benchmarks/results/experiments-cpu-2026-12-02"])
def test_the_committed_results_md_is_what_its_json_files_give(folder, monkeypatch):
    monkeypatch.chdir(ROOT)
    committed = (ROOT / folder / "results.md").read_text()
    assert committed == "# The paper's ablations, re-measured\n\n" + report_markdown([folder]), (
        f"{folder}/results.md is stale: regenerate it with `alexnet experiment report {folder} --markdown`")


def test_host_names_repeat_so_runs_pair_by_host_and_boot_and_dirty_runs_say_so():
    from alexnet.experiment.report import experiment_markdown
    from alexnet.provenance import boot_id, provenance

    here = provenance("cpu")
    assert here["boot_id"] == boot_id() and here["host"]
    def run(seed, error, boot, dirty=False):
        return {"seed": seed, "status": "done", "test_error": error, "steps_to_target": None, "steps": 9,
                "provenance": {"host": "vm", "boot_id": boot, "dirty": dirty, "commit": "0123456789"}}
    result = _result([run(0, 0.10, "aaaa1111"), run(1, 0.10, "aaaa1111")],
                     [run(0, 0.12, "aaaa1111", dirty=True), run(1, 0.13, "bbbb2222")])
    c = compare(result, {"better": "a", "worse": "b", "measure": "test_error"})
    # two machines both called "vm": seed 1's runs booted apart, so they are not a pair of one host
    assert c["differences"]["top-1"]["seeds"] == [0] and [x["seed"] for x in c["cross_host"]] == [1]
    full = {**result, "experiment": "x", "question": "q?", "preset": "smoke", "data": "d", "seeds": [0, 1],
            "scale": "s", "target_train_error": 0.25, "target_rule": "r", "config": {"batch_size": 8},
            "paper": {"comparisons": [{"better": "a", "worse": "b", "measure": "test_error", "claim": "c"}]}}
    for v in full["variants"]:
        v.update(mean={"test_error": 0.1}, std={"test_error": None}, reached_target="0/2")
    md = experiment_markdown(full)
    assert "| b (dirty tree) | 2 |" in md and "uncommitted changes** (the commit does not say what ran): b seed 0" in md
    assert "vm (boot aaaa1111): a 0, a 1, b 0; vm (boot bbbb2222): b 1" in md


def test_committed_results_still_merge_after_config_keys_were_added():
    # `--runs-from` compares an earlier file's config with today's; keys added since (holdout, ...)
    # count at their defaults, and their amp "auto" (float32 on a CPU under that code's rule) as the
    # preset's "off" today, so the committed cpu-preset files still merge
    from alexnet.experiment.imported import config_as_trained
    from alexnet.recipes import preset, resolve_config
    p = preset("cpu")
    cfg = resolve_config("paper", {**p.overrides, "dataset": "fashion-mnist", "device": "cpu", "resize": 73})
    today = {k: v for k, v in cfg.to_dict().items() if k not in ("data", "dataset", "device")}
    old = json.loads((ROOT / COMMITTED / "lrn.json").read_text())["config"]
    assert "holdout" not in old and old["amp"] == "auto" and today["amp"] == "off"
    assert config_as_trained(old, "cpu") == today
    # ... but a run that trained in bf16 does not count as one of them
    assert config_as_trained({**old, "amp": "bf16"}, "cpu") != today
    assert config_as_trained(old, "gpu")["amp"] == "auto"       # (CUDA's auto was bf16 then and now)
