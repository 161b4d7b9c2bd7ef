"""Figure 1 as the paper ran it: ReLU against tanh, each at its own learning rate, no regularisation.

    alexnet experiment figure1 --preset cpu --seeds 5 --out runs/experiments/figure1-cpu

Section 3.1: "The learning rates for each network were chosen independently to make training as
fast as possible. No regularization of any kind was employed." What this changes against the
``activation`` ablation (which runs tanh under the ReLU recipe):

- **no regularisation**: dropout 0, no crops or flips (the centre crop), no PCA lighting, weight
  decay 0;
- **tanh with zero biases** (``model.init=zero-bias``): the recipe's biases of 1 exist to keep
  ReLUs in their positive range; ReLU keeps them (the released init);
- **a learning rate per activation**, chosen from :data:`LR_GRID` on a validation split: each
  (activation, rate) trains once, on the selection seed :data:`SELECTION_SEED`, with
  :func:`holdout_size` training images held out; the rate whose run ends with the lowest
  validation top-1 error is chosen (after a fixed number of steps, the lowest error on images the
  net never trained on is the fastest useful training). A tie goes to the smaller rate. Where the
  rate chosen is the grid's largest (smallest), twice (half) it is tried too, and so on, at most
  :data:`MAX_EXTENSIONS` times per activation, so that no activation is held back by the edge of
  the grid; a larger rate whose run fails (diverges or stalls) ends the search upwards.
- the measurement: each activation at its chosen rate on the seeds asked for (never the selection
  seed), with the same images held out. Steps to the target training error (25 % on 10 classes,
  as in Figure 1; the training error is logged on the training batches, which here are neither
  augmented nor dropped out) per seed, their mean ± SD, and the paired ratio tanh / ReLU with its
  95 % t-interval (:mod:`.report`).

What still differs from the paper: the net is AlexNet at the preset's size on the data given
(Fashion-MNIST by default), not a four-layer CNN on CIFAR-10; the recipe's 100-step warm-up and the
preset's schedule stay.

Layout of ``out``: ``experiment.json``; ``selection/<activation>/lr-<rate>/`` (one run each);
``runs/<activation>/lr-<rate>/seed-<S>/`` (a change of grid that changes the rate chosen trains
new runs: a run is never read back at a rate it was not trained at; ``runs/<activation>/seed-<S>/``,
the layout before the rate was in the name, is read back or resumed where its rate is the one
chosen);
``results.json`` (with ``selection``), ``results.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from ..atomic import atomic_write_text
from ..config import Config
from ..data.open import open_data
from ..device import resolve_device
from ..provenance import provenance
from ..recipes import preset as get_preset
from ..train.runner import CONFIG_NAME
from .ablations import ExperimentError
from .report import write_report
from .grid import _check_fits, _check_spec, _one_run, base_config, summarize_variant, target_train_error

NAME = "figure1"
LR_GRID = (0.0025, 0.005, 0.01, 0.02, 0.04)
MAX_EXTENSIONS = 3
SELECTION_SEED = 1000
ACTIVATIONS = {"relu": {"model.activation": "relu", "model.init": "cuda-convnet"},
               "tanh": {"model.activation": "tanh", "model.init": "zero-bias"}}
NO_REGULARISATION = {"model.dropout": 0.0, "crops_flips": False, "lighting_std": 0.0, "weight_decay": 0.0}
PAPER = {"better": "relu", "worse": "tanh", "measure": "steps_to_target",
         "claim": "a four-layer CNN with ReLUs reached 25% training error on CIFAR-10 six times faster than "
                  "with tanh units, each at its own fastest learning rate, without regularisation (Figure 1)",
         "top1_change": None, "top5_change": None, "steps_ratio": 6.0}


def holdout_size(train_images: int) -> int:
    """5,000 validation images (of Fashion-MNIST's 60,000), or a quarter of a smaller training split."""
    return min(5000, train_images // 4)


def run_config(base: Config, activation: str, lr: float, seed: int) -> Config:
    return base.updated({**ACTIVATIONS[activation], "lr": lr, "seed": seed})


def _train(cfg: Config, run_dir: Path, target: float, num_classes: int, dev, say, what: str) -> dict[str, Any]:
    say(f"[experiment {NAME}] {what}")
    record = _one_run(cfg, run_dir, target, num_classes, None, dev)
    trained_at = _saved_lr(run_dir)
    if trained_at is not None and trained_at != cfg.lr:
        raise ExperimentError(f"{run_dir} holds a run trained at lr {trained_at:g}, not {cfg.lr:g}: "
                              f"move it away or choose another --out")
    record["lr"] = cfg.lr
    return record


def _saved_lr(run_dir: Path) -> float | None:
    path = run_dir / CONFIG_NAME
    return json.loads(path.read_text()).get("lr") if path.is_file() else None


def measurement_dir(out: Path, activation: str, lr: float, seed: int) -> Path:
    """Where the measured run of ``activation`` at ``lr`` on ``seed`` lives (the module docstring)."""
    legacy = out / "runs" / activation / f"seed-{seed}"
    if _saved_lr(legacy) == lr:           # finished, or interrupted with its checkpoint
        return legacy
    return out / "runs" / activation / f"lr-{lr:g}" / f"seed-{seed}"


def _edge_rate(runs: list[dict[str, Any]], best: dict[str, Any]) -> float | None:
    """The next rate to try past the edge of the rates tried, or None: twice the largest where that
    one was chosen (a larger rate that failed is tried too, so it ends the search), half the
    smallest where that one was chosen."""
    rates = sorted(r["lr"] for r in runs)
    if best["lr"] == rates[-1]:
        return best["lr"] * 2
    if best["lr"] == rates[0]:
        return best["lr"] / 2
    return None


def choose_rates(base: Config, grid: Sequence[float], out: Path, target: float, num_classes: int, dev,
                 say: Callable[[str], None], extend: int = MAX_EXTENSIONS) -> dict[str, dict[str, Any]]:
    """Per activation: every rate's selection run and the rate chosen (the module docstring's rule)."""
    chosen = {}
    for activation in ACTIVATIONS:
        runs: list[dict[str, Any]] = []

        def select(lr: float, why: str = "") -> None:
            record = _train(run_config(base, activation, lr, SELECTION_SEED),
                            out / "selection" / activation / f"lr-{lr:g}", target, num_classes, dev, say,
                            f"choosing the rate: {activation}, lr {lr:g} (seed {SELECTION_SEED}){why}")
            runs.append({"lr": lr, "status": record["status"], "validation_error": record.get("validation_error"),
                         "steps_to_target": record.get("steps_to_target"), "train_error": record.get("train_error"),
                         "past_the_grid": bool(why)})

        for lr in grid:
            select(lr)
        best = _best(runs, activation, grid, out)
        for _ in range(extend):
            nxt = _edge_rate(runs, best)
            if nxt is None:
                break
            select(nxt, f": {best['lr']:g}, the edge of the rates tried, was best")
            best = _best(runs, activation, grid, out)
        at_edge = _edge_rate(runs, best) is not None
        chosen[activation] = {"lr": best["lr"], "grid": sorted(runs, key=lambda r: r["lr"]), "at_edge": at_edge}
    return chosen


def _best(runs: list[dict[str, Any]], activation: str, grid: Sequence[float], out: Path) -> dict[str, Any]:
    done = [r for r in runs if r["status"] == "done" and r["validation_error"] is not None]
    if not done:
        raise ExperimentError(f"{NAME}: every {activation} run of the grid {list(grid)} failed; see "
                              f"{out / 'selection' / activation}")
    return min(done, key=lambda r: (r["validation_error"], r["lr"]))


def run_figure1(*, preset: str = "cpu", seeds: int = 3, seed: int = 0, data: str | os.PathLike | None = None,
                dataset: str | None = None, out: str | os.PathLike | None = None, device: str = "auto",
                grid: Sequence[float] = LR_GRID, say: Callable[[str], None] = print,
                extend: int = MAX_EXTENSIONS) -> dict[str, Any]:
    """Choose each activation's rate, measure both on ``seeds`` seeds, write the report; returns
    results.json's content. Finished runs are read back, never trained again."""
    if seeds < 1:
        raise ExperimentError(f"--seeds must be at least 1, got {seeds}")
    if SELECTION_SEED in range(seed, seed + seeds):
        raise ExperimentError(f"seed {SELECTION_SEED} chooses the learning rates; measure on other seeds")
    if not grid or any(lr <= 0 for lr in grid):
        raise ExperimentError(f"the learning-rate grid must hold positive rates, got {list(grid)}")
    if extend < 0:
        raise ExperimentError(f"--extend-grid must be 0 or more, got {extend}")
    p, dev = get_preset(preset), resolve_device(device)
    if data is None and dataset is None:
        dataset = "fashion-mnist"
    opened = open_data(None if data is None else str(data), dataset)
    store = opened.train
    _check_fits(p, store, dev)
    held = holdout_size(len(store))
    base = base_config(p, store, None if data is None else str(data), dataset, device).updated(
        {**NO_REGULARISATION, "holdout": held, "holdout_seed": 0})
    out = Path(out or f"runs/experiments/{NAME}-{preset}")
    seed_list = list(range(seed, seed + seeds))
    _check_spec(out, {"experiment": NAME, "preset": preset, "data": opened.description, "config": base.to_dict(),
                      "seeds": seed_list, "variants": list(ACTIVATIONS), "grid": list(grid)})
    target = target_train_error(store.num_classes)
    chosen = choose_rates(base, grid, out, target, store.num_classes, dev, say, extend)
    records: dict[str, list[dict[str, Any]]] = {a: [] for a in ACTIVATIONS}
    for s in seed_list:
        for activation, choice in chosen.items():
            records[activation].append(_train(run_config(base, activation, choice["lr"], s),
                                              measurement_dir(out, activation, choice["lr"], s), target,
                                              store.num_classes,
                                              dev, say, f"{activation} at lr {choice['lr']:g}, seed {s}"))
    result = _result(preset, p, opened.description, base, target, store.num_classes, seed_list, held, grid,
                     chosen, records, dev, extend)
    write_report(out, [result])
    atomic_write_text(out / "results.md", (out / "results.md").read_text() + selection_markdown(result))
    return result


def _result(preset, p, data, base, target, num_classes, seeds, held, grid, chosen, records, dev,
            extend) -> dict[str, Any]:
    shared = {k: v for k, v in base.to_dict().items() if k not in ("data", "dataset", "device")}
    return {
        "experiment": NAME, "preset": preset, "data": data, "provenance": provenance(dev),
        "target_train_error": target,
        "target_rule": f"the fraction of chance-level error that the paper's 25% was on CIFAR-10: "
                       f"(1 − 1/{num_classes}) × 0.25 / 0.9",
        "question": "Do ReLUs train faster than tanh units, each at its own learning rate, without "
                    "regularisation? (section 3.1, Figure 1, as the paper ran it)",
        "switch": "model.activation (with model.init and lr)", "seeds": seeds,
        "steps_per_run": base.epochs * base.max_steps_per_epoch if base.max_steps_per_epoch else None,
        "scale": p.scale_note + f"; no regularisation (dropout 0, no crops, flips or lighting, weight decay 0); "
                                f"{held} training images held out for validation",
        "config": shared,
        "selection": {"grid": list(grid), "seed": SELECTION_SEED, "holdout": held,
                      "rule": "per activation, the rate whose run ends with the lowest validation top-1 error "
                              "(ties: the smaller rate); where it is the largest (smallest) rate tried, twice (half) "
                              f"it is tried too, at most {extend} times",
                      "extensions": extend, "chosen": chosen},
        "variants": [summarize_variant(a, records[a]) for a in ACTIVATIONS],
        "not_run": [], "not_finished": [], "imported": [],
        "notes": ["tanh starts with every bias 0 (init zero-bias), ReLU with the released init (biases 1 in conv2, "
                  "conv4, conv5, fc6, fc7)",
                  "each variant trains at its own learning rate (the selection table below); the test error is "
                  "measured once, after training, on the data's test split"],
        "paper": {"question": "Figure 1", "comparisons": [PAPER]},
    }


def selection_markdown(result: dict[str, Any]) -> str:
    sel = result["selection"]
    lines = ["", f"### Choosing each activation's learning rate (seed {sel['seed']}, {sel['holdout']} held-out "
                 f"validation images; rule: {sel['rule']})", "",
             "| activation | lr | validation top-1 error | steps to the target training error | chosen |",
             "|---|---|---|---|---|"]
    edges = []
    for activation, choice in sel["chosen"].items():
        for r in choice["grid"]:
            err = "failed" if r["validation_error"] is None else f"{100 * r['validation_error']:.2f}%"
            past = " (past the grid)" if r.get("past_the_grid") else ""
            lines.append(f"| {activation} | {r['lr']:g}{past} | {err} | {r['steps_to_target'] or '–'} | "
                         f"{'**yes**' if r['lr'] == choice['lr'] else ''} |")
        if choice.get("at_edge"):
            edges.append(f"**{activation}'s rate {choice['lr']:g} is the edge of the rates tried** (after "
                         f"{sel.get('extensions', 0)} steps past the grid): a rate beyond it might train "
                         f"{activation} faster, so this comparison may not show {activation} at its fastest.")
    return "\n".join(lines + ([""] + edges if edges else [])) + "\n"


def print_results(out: Path) -> str:
    return json.dumps(json.loads((out / "results.json").read_text()), indent=1)
