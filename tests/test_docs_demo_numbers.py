"""docs/REPRODUCTION.md §2's demo numbers are the committed report files' numbers (a reader who
recomputes them from the files gets the same figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks/results/demo-cpu-2026-12-05"
DOC = (ROOT / "docs/REPRODUCTION.md").read_text()


def report(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


@pytest.mark.parametrize("name,seed", [("report-seed0-fresh-clone.json", 0), ("report-seed1.json", 1),
                                       ("report-seed2.json", 2)])
def test_the_three_seeds_row_is_its_file(name, seed):
    r = report(name)
    row = next(line for line in DOC.splitlines() if line.startswith(f"| `{name}` | {seed} |"))
    assert f"{r['validation_accuracy']:.4f} / {r['validation_accuracy_10_views']:.4f}" in row
    assert f"**{r['test_accuracy']:.4f}** / {r['test_accuracy_10_views']:.4f}" in row


@pytest.mark.parametrize("variant,files", [
    ("the profile (lr 0.01, no crops or flips)", ("report-seed0-fresh-clone.json", "report-seed1.json")),
    ("crops and flips on", ("profile-choice/report-flips-s0.json", "profile-choice/report-flips-s1.json")),
    ("lr 0.02", ("profile-choice/report-lr02-s0.json", "profile-choice/report-lr02-s1.json")),
])
def test_the_profile_choice_rows_are_their_files(variant, files):
    reports = [report(f) for f in files]
    row = next(line for line in DOC.splitlines() if line.startswith(f"| {variant} |"))
    val = [r["validation_accuracy"] for r in reports]
    assert " / ".join(f"{v:.4f}" for v in val) in row
    assert f"{sum(val) / 2:.4f}" in row
    assert " / ".join(f"{r['validation_accuracy_10_views']:.4f}" for r in reports) in row
    # each candidate is the profile with one change, on the seeds the rule names (0 and 1)
    flips = variant == "crops and flips on"
    assert [r["lr"] for r in reports] == [0.02 if variant == "lr 0.02" else 0.01] * 2
    assert [r["augmentation"].startswith("none") for r in reports] == [not flips] * 2
    if variant != "the profile (lr 0.01, no crops or flips)":
        assert [f"seed={s}" in r["provenance"]["command"] for s, r in enumerate(reports)] == [True, True]


def test_the_kept_profile_has_the_highest_mean_validation_accuracy():
    means = {}
    for name, files in {"profile": ("report-seed0-fresh-clone.json", "report-seed1.json"),
                        "flips": ("profile-choice/report-flips-s0.json", "profile-choice/report-flips-s1.json"),
                        "lr02": ("profile-choice/report-lr02-s0.json", "profile-choice/report-lr02-s1.json")}.items():
        means[name] = sum(report(f)["validation_accuracy"] for f in files) / 2
    assert max(means, key=means.get) == "profile"


@pytest.mark.parametrize("other,files", [
    ("flips", ("profile-choice/report-flips-s0.json", "profile-choice/report-flips-s1.json")),
    ("lr 0.02", ("profile-choice/report-lr02-s0.json", "profile-choice/report-lr02-s1.json")),
])
def test_the_profile_choice_intervals_are_the_files_paired_intervals(other, files):
    from alexnet.experiment.stats import interval
    profile = [report(f)["validation_accuracy"] for f in ("report-seed0-fresh-clone.json", "report-seed1.json")]
    iv = interval([a - report(f)["validation_accuracy"] for a, f in zip(profile, files)])
    text = " ".join(DOC.split())     # the doc wraps lines
    signed = lambda x: f"{x:+.4f}".replace("-", "−")
    assert f"minus {other}: " in text
    clause = text.split(f"minus {other}: ", 1)[1][:120]
    assert f"mean {signed(iv.mean)}, " in clause and f"[{signed(iv.low)}, {signed(iv.high)}]" in clause
    assert iv.n == 2 and iv.contains(0.0)   # as the doc says: both intervals hold 0


def test_figure1_section_is_the_generated_report_of_its_result_file():
    # REPRODUCTION §4's Figure 1 tables are what the report code makes of the committed figure1.json
    from alexnet.experiment.figure1 import selection_markdown
    from alexnet.experiment.report import experiment_markdown
    folder = ROOT / "benchmarks/results/figure1-cpu-2026-12-05"
    result = json.loads((folder / "figure1.json").read_text())
    generated = experiment_markdown(result) + selection_markdown(result)
    assert (folder / "results.md").read_text() == "# Experiment `figure1`\n\n" + generated
    start = DOC.index("<!-- figure1 tables: generated")
    block = DOC[DOC.index("-->", start) + 3:DOC.index("<!-- end of the generated figure1 tables -->")]
    assert block.strip() == generated.strip()
    # the verdict follows from the interval: both activations trained on one host, every seed measured
    assert {r["provenance"]["boot_id"] for v in result["variants"] for r in v["runs"]} == {result["provenance"]["boot_id"]}
    assert [len(v["runs"]) for v in result["variants"]] == [len(result["seeds"])] * 2



def test_figure1_prose_quotes_its_result_file():
    # REPRODUCTION §4, the README and README.zh-CN repeat figure1's steps, ratio and interval
    import math
    from alexnet.experiment.report import compare
    result = json.loads((ROOT / "benchmarks/results/figure1-cpu-2026-12-05/figure1.json").read_text())
    c = compare(result, result["paper"]["comparisons"][0], "figure1")
    ratio = f"{math.exp(c['mean_log']):.2f}"
    interval = f"[{math.exp(c['low']):.2f}, {math.exp(c['high']):.2f}]"
    steps = {v["name"]: [r["steps_to_target"] for r in v["runs"]] for v in result["variants"]}
    assert result["seeds"] == [0, 1, 2, 3, 4] and c["n"] == 5 and not c["cross_host"]
    chosen = result["selection"]["chosen"]
    assert (chosen["relu"]["lr"], chosen["tanh"]["lr"]) == (0.01, 0.04)
    assert not chosen["tanh"]["at_edge"] and [r["lr"] for r in chosen["tanh"]["grid"]][-1] == 0.08
    past = chosen["tanh"]["grid"][-1]
    for name, path in (("REPRODUCTION", ROOT / "docs/REPRODUCTION.md"), ("README", ROOT / "README.md"), ("zh-CN", ROOT / "README.zh-CN.md")):
        text = " ".join(path.read_text().split())
        assert ratio in text and interval in text, name
        relu, tanh = (", ".join(map(str, steps[a])) for a in ("relu", "tanh"))
        if name == "zh-CN":
            relu, tanh = relu.replace(", ", "、"), tanh.replace(", ", "、")
        assert relu in text and tanh in text, name
    doc = " ".join(DOC.split())
    assert f"({100 * past['validation_error']:.2f} % against" in doc
    assert f"tanh / ReLU = {ratio} steps (geometric mean, 95 % CI of the ratio {interval}, n = 5" in doc


def test_the_printed_init_numbers_are_its_log():
    # REPRODUCTION §1 and the README quote the printed-init run's log: a flat first epoch at chance
    log = ROOT / "benchmarks/results/printed-init-cpu-2026-12-05/log.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    start = events[0]
    assert start["event"] == "start" and start["provenance"]["dirty"] is False
    assert start["provenance"]["commit"].startswith("d71a908") and "model.init=paper" in start["provenance"]["command"]
    losses = {e["step"]: e["loss"] for e in events if e["event"] == "step"}
    epoch = next(e for e in events if e["event"] == "epoch")
    assert events[-1]["event"] == "stalled"
    text = " ".join(DOC.split())
    assert (f"rose from {losses[20]:.2f} at step 20 to {losses[40]:.2f} at step 40, then fell back to "
            f"{losses[150]:.2f} by step 150") in text
    assert f"after epoch 1 was {epoch['val_top1_error']:.4f} (chance)" in text
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"the last step's training loss {losses[150]:.4f} against ln 10" in readme


def test_the_warmup_study_numbers_are_its_result_file():
    # REPRODUCTION §1, the README, README.zh-CN and SPEC quote the warm-up study's paired intervals
    folder = ROOT / "benchmarks/results/warmup-study-2026-12-05"
    result = json.loads((folder / "warmup-study.json").read_text())
    assert result["provenance"]["dirty"] is False and result["provenance"]["commit"].startswith("6195fc0")
    assert result["settings"]["seeds"] == 5 and result["settings"]["holdout"] == 5000
    rows = {r["measure"]: r for r in result["paired"]}
    one, three = rows["validation accuracy after epoch 1"], rows["validation accuracy after epoch 3"]
    assert one["n"] == three["n"] == 5 and one["low"] > 0 and three["low"] > 0    # both intervals exclude 0
    first = f"+{one['mean']:.4f} (95 % CI [+{one['low']:.4f}, +{one['high']:.4f}]"
    third = f"+{three['mean']:.4f} ([+{three['low']:.4f}, +{three['high']:.4f}])"
    peaks = [r["epoch_1_peak_loss"] for r in result["runs"] if r["warmup_steps"] == 0]
    step20 = [next(e["loss"] for e in r["epoch_1_losses"] if e["step"] == 20) for r in result["runs"]
              if r["warmup_steps"] == 0]
    assert peaks == step20                                # without the warm-up the peak is the first interval's
    peak = f"{min(peaks):.2f}–{max(peaks):.2f}"
    for path in ("docs/REPRODUCTION.md", "README.md", "README.zh-CN.md"):
        text = " ".join((ROOT / path).read_text().split()).replace("(", "(").replace(")", ")")  # zh-CN's brackets
        assert first.replace("95 % CI", "95% 置信区间" if "zh" in path else "95 % CI") in text, path
        assert (third.replace(" (", "(") if "zh" in path else third) in text and peak in text, path
    assert f"{one['mean']:+.4f} with it (95 % CI [{one['low']:+.4f}, {one['high']:+.4f}]" in " ".join(
        (ROOT / "docs/SPEC.md").read_text().split())
    # the per-epoch validation accuracy ranges REPRODUCTION §1 gives
    text = " ".join(DOC.split())
    for warmup, epoch in ((100, 0), (0, 0)):
        acc = [r["per_epoch"][epoch]["validation_accuracy"] for r in result["runs"] if r["warmup_steps"] == warmup]
        assert f"{min(acc):.3f}–{max(acc):.3f}" in text
    # every run's log is committed beside the study
    for r in result["runs"]:
        assert (folder / f"warmup-{r['warmup_steps']}-seed-{r['seed']}.log.jsonl").is_file()


def test_the_d2l_96_px_numbers_are_its_log():
    # REPRODUCTION §3 and the README quote the CPU-scaled d2l run's per-epoch test accuracy
    folder = ROOT / "benchmarks/results/d2l-96-cpu-2026-12-05"
    events = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    start = events[0]
    assert start["event"] == "start" and start["provenance"]["dirty"] is False
    assert "--recipe d2l" in start["provenance"]["command"] and "--input-size 96" in start["provenance"]["command"]
    config = json.loads((folder / "config.json").read_text())
    assert config["holdout"] == 0 and config["epochs"] == 3 and config["max_steps_per_epoch"] == 150
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["val_images"] for e in epochs] == [10000] * 3           # no hold-out: the test images
    accuracy = " / ".join(f"{1 - e['val_top1_error']:.4f}" for e in epochs)
    seconds = [e["seconds"] for e in epochs]
    text = " ".join(DOC.split())
    assert f"test accuracy after each epoch {accuracy}" in text
    assert f"each epoch {min(seconds):.1f}–{max(seconds):.1f} s" in text
    assert f"accuracy {accuracy} after its three epochs" in " ".join((ROOT / "README.md").read_text().split())
