"""Run an ablation: every variant × every seed, each a resumable training run, then the summary.

    from alexnet.experiment import run_experiment
    result = run_experiment("lrn", preset="cpu", seeds=3, dataset="fashion-mnist", out="runs/exp/lrn")
    result["variants"][0]["mean"]["test_error"]

Layout of ``out``::

    experiment.json                 what was asked (name, preset, data, seeds, the shared config)
    experiment.log.jsonl            one line per run started / finished
    runs/<variant>/seed-<S>/        an `alexnet train` run directory (config.json, log.jsonl, ...)
    runs/<variant>/seed-<S>/result.json   written when that run is finished: never run again
    results.json, results.md, <name>.png

An interrupted experiment picks up where it stopped: finished runs are read back, an unfinished
one resumes from its checkpoint. Runs go seed by seed (every variant of seed S before seed S+1),
so a half-finished experiment is balanced.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import stop
from ..atomic import atomic_write_text
from ..config import Config
from ..recipes import resolve_config
from ..data.open import open_data
from ..device import resolve_device
from ..jsonl import JsonlWriter
from ..models import model_class
from ..provenance import provenance
from ..train.checkpoint import CHECKPOINT_NAME
from ..train.log import LOG_NAME, read_run_log
from ..train.loop import TrainingDiverged, TrainingStalled
from ..train.runner import CONFIG_NAME, run_training
from ..weights import WEIGHTS_NAME
from .ablations import NAMES, ExperimentError, Variant, ablation
from ..recipes import Preset, preset as get_preset, resize_for
from .imported import RESULT_NAME, config_as_trained, import_runs, read_results
from .report import write_report

SPEC_NAME = "experiment.json"
#: The paper's Figure 1 target: 25% training error on CIFAR-10, i.e. 0.25 / 0.9 of chance-level error.
PAPER_TARGET, PAPER_TARGET_CHANCE = 0.25, 0.9


def target_train_error(num_classes: int) -> float:
    """The training error that means on this data what 25% meant on CIFAR-10 (10 classes, chance
    error 0.9): the same fraction of chance-level error, (1 − 1/K) · 0.25 / 0.9."""
    return round((1.0 - 1.0 / num_classes) * PAPER_TARGET / PAPER_TARGET_CHANCE, 4)


def steps_to_target(curve: Sequence[tuple[int, float]], target: float) -> int | None:
    """The first step whose logged training error (``(step, error)`` pairs, in step order) is at or
    below ``target``; None when the run never got there."""
    for step, error in curve:
        if error is not None and math.isfinite(error) and error <= target:
            return int(step)
    return None


def run_record(run_dir: Path, target: float, num_classes: int) -> dict[str, Any]:
    """One finished run's numbers, read from its log (the final epoch's test and training error,
    the steps to the target, the training speed)."""
    events = read_run_log(run_dir / LOG_NAME)
    epochs = [e for e in events if e.get("event") == "epoch"]
    steps = [e for e in events if e.get("event") == "step"]
    if not epochs:
        raise ValueError(f"{run_dir}: the log has no finished epoch")
    last = epochs[-1]
    train_seconds = sum(e["seconds"] for e in epochs)
    cfg = json.loads((run_dir / CONFIG_NAME).read_text())
    record = {
        "seed": cfg["seed"],
        "test_error": last.get("val_top1_error"),
        "train_error": last["train_top1_error"],
        "steps_to_target": steps_to_target([(e["step"], e.get("train_top1_error")) for e in steps], target),
        "steps": last["step"],
        "images_per_s": last["step"] * cfg["batch_size"] / train_seconds if train_seconds > 0 else None,
        "train_seconds": round(train_seconds, 1),
        "curve": [[e["step"], e.get("train_top1_error")] for e in steps],
        "per_epoch": [{"epoch": e["epoch"] + 1, "step": e["step"], "train_error": e["train_top1_error"],
                       "test_error": e.get("val_top1_error"), "lr": e["lr"]} for e in epochs],
        "run_dir": str(run_dir),
        "status": "done",
    }
    if num_classes > 5:
        record["test_top5_error"] = last.get("val_top5_error")
    tests = [e for e in events if e.get("event") == "test"]
    if tests:       # a run with a held-out validation split: the epochs validated, the test came once, at the end
        record.update(validation_error=last.get("val_top1_error"), test_error=tests[-1]["test_top1_error"])
        if num_classes > 5:
            record["test_top5_error"] = tests[-1]["test_top5_error"]
    return record


def _mean_std(values: list) -> tuple[float | None, float | None]:
    if not values or any(v is None for v in values):
        return None, None
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def summarize_variant(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and spread (sample standard deviation; null for one seed) over the finished seeds.
    ``steps_to_target`` has a mean only when every seed reached the target."""
    done = [r for r in runs if r["status"] == "done"]
    mean, std = {}, {}
    for key in ("test_error", "test_top5_error", "train_error", "steps_to_target", "images_per_s", "train_seconds"):
        if done and key in done[0]:
            mean[key], std[key] = _mean_std([r.get(key) for r in done])
    reached = sum(r.get("steps_to_target") is not None for r in done)
    return {"name": name, "runs": runs, "mean": mean, "std": std,
            "reached_target": f"{reached}/{len(done)}", "failed": len(runs) - len(done)}


def _check_fits(p: Preset, store, device) -> None:
    if p.needs_cuda and device.type != "cuda":
        raise ExperimentError(f"the {p.name} preset trains 224-px crops for whole epochs and needs a CUDA GPU "
                              f"(this device: {device}); on a CPU use --preset cpu")
    if p.max_stored_size is not None and store.image_size > p.max_stored_size:
        raise ExperimentError(
            f"the {p.name} preset trains on {p.overrides['input_size']}-px crops of images of at most "
            f"{p.max_stored_size} px, but {store.root} stores {store.image_size}-px images; prepare a small copy "
            f"(`alexnet prepare SRC OUT --size {p.max_stored_size}`) or use --preset gpu")
    if store.num_classes < 2:
        raise ExperimentError(f"{store.root} has {store.num_classes} class; an experiment needs at least 2")


def base_config(p: Preset, store, data: str | None, dataset: str | None, device: str) -> Config:
    """The paper recipe at the preset's size: what every variant shares."""
    return resolve_config("paper", {**p.overrides, "data": data, "dataset": dataset, "device": device,
                                    "resize": resize_for(store.image_size, p.overrides["input_size"])})


def _variant_dir(out: Path, variant: str, seed: int) -> Path:
    return out / "runs" / variant / f"seed-{seed}"


def _check_spec(out: Path, spec: dict[str, Any]) -> None:
    path = out / SPEC_NAME
    if path.is_file():
        old = json.loads(path.read_text())
        old["config"] = config_as_trained(old.get("config"), old.get("preset"))
        keys = ("experiment", "preset", "data", "config")
        if any(old.get(k) != spec.get(k) for k in keys):
            diff = [k for k in keys if old.get(k) != spec.get(k)]
            raise ExperimentError(f"{out} holds another experiment ({', '.join(diff)} differ: it was "
                                  f"{old.get('experiment')} / {old.get('preset')} on {old.get('data')}); "
                                  f"choose another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(spec, indent=1) + "\n")


def config_key(cfg: Config) -> str:
    """Two runs with equal keys train exactly the same thing (same config, same seed)."""
    return json.dumps(cfg.to_dict(), sort_keys=True)


def _one_run(cfg: Config, run_dir: Path, target: float, num_classes: int,
             finished: dict[str, dict[str, Any]] | None = None, device: Any = None) -> dict[str, Any]:
    """Train (or resume, or read back) one run. ``finished`` maps config keys to the records of
    runs already trained in this call: ``all`` trains the paper's own setting (relu = lrn =
    overlapping = two towers = dropout = crops+flips) once per seed and shares it. The record of
    a run trained here holds its ``provenance`` (host, commit, dirty tree: reports pair runs of
    one host only); a shared run keeps the provenance of the run that trained it."""
    result_path = run_dir / RESULT_NAME
    if result_path.is_file():
        return json.loads(result_path.read_text())
    key = config_key(cfg)
    if finished and key in finished and finished[key]["status"] == "done":
        record = {**finished[key], "same_run_as": finished[key]["run_dir"]}
        run_dir.mkdir(parents=True, exist_ok=True)
        # the config the shared run saved (with the model arguments its data filled in)
        atomic_write_text(run_dir / CONFIG_NAME, (Path(record["run_dir"]) / CONFIG_NAME).read_text())
        atomic_write_text(result_path, json.dumps(record, indent=1) + "\n")
        return record
    started = time.time()
    try:
        if not (run_dir / WEIGHTS_NAME).is_file():      # (with the weights: trained, only the record is missing)
            resume = (run_dir / CHECKPOINT_NAME).is_file()
            if run_training(None if resume else cfg, run_dir, resume=resume)["status"] != "done":
                raise KeyboardInterrupt("interrupted; run the same command again to continue")   # checkpoint saved
    except (TrainingDiverged, TrainingStalled) as e:
        record = {"seed": cfg.seed, "status": "failed", "error": str(e), "run_dir": str(run_dir)}
    else:
        record = run_record(run_dir, target, num_classes)
    record["seconds"] = round(time.time() - started, 1)
    record["provenance"] = provenance(device)
    atomic_write_text(result_path, json.dumps(record, indent=1) + "\n")
    return record


def run_experiment(name: str, *, preset: str = "cpu", seeds: int = 1, seed: int = 0,
                   data: str | os.PathLike | None = None, dataset: str | None = None,
                   out: str | os.PathLike | None = None, device: str = "auto",
                   say: Callable[[str], None] = print,
                   finished: dict[str, dict[str, Any]] | None = None,
                   train: bool = True,
                   runs_from: Sequence[str | os.PathLike] = ()) -> dict[str, Any] | list[dict[str, Any]]:
    """Run the ablation ``name`` (or ``"all"``: each into ``out/<name>``); returns results.json's
    content (a list of them for ``all``). See the module docstring for what is written.

    ``train=False`` trains nothing: the results are written from the runs finished so far (a
    run not finished is listed under ``not_finished``), for a report while, or after, the rest
    runs elsewhere.

    ``runs_from``: earlier results.json files whose finished runs count as finished here
    (:mod:`.imported`; for ``all``, each experiment takes the files of its own name)."""
    files = [(Path(f), read_results(f)) for f in runs_from]
    if name == "all":
        return _run_all(files, preset=preset, seeds=seeds, seed=seed, data=data, dataset=dataset, out=out,
                        device=device, say=say, train=train)
    abl = ablation(name)
    for path, r in files:
        if r["experiment"] != name:
            raise ExperimentError(f"--runs-from {path} holds the {r['experiment']} experiment, not {name}")
    p = get_preset(preset)
    if seeds < 1:
        raise ExperimentError(f"--seeds must be at least 1, got {seeds}")
    if data is None and dataset is None:
        dataset = "fashion-mnist"
    dev = resolve_device(device)
    opened = open_data(None if data is None else str(data), dataset)
    store = opened.train
    _check_fits(p, store, dev)
    if opened.val is None:
        raise ExperimentError(f"{opened.description} has no validation split: the experiments compare test "
                              f"errors (prepare a val split, or give an ImageFolder with train/ and val/)")
    base = base_config(p, store, None if data is None else str(data), dataset, device)
    variants, skipped = _applicable_variants(abl, store.channels)
    out = Path(out or f"runs/experiments/{name}-{preset}")
    seed_list = list(range(seed, seed + seeds))
    _check_spec(out, {"experiment": name, "preset": preset, "data": opened.description, "config": base.to_dict(),
                      "seeds": seed_list, "variants": [v.name for v in variants]})
    shared_config = {k: v for k, v in base.to_dict().items() if k not in ("data", "dataset", "device")}
    log = JsonlWriter(out / "experiment.log.jsonl")
    try:
        for run in import_runs(files, name=name, preset=preset, data=opened.description, config=shared_config,
                               seeds=seed_list, variant_configs={v.name: functools.partial(variant_config, base, v)
                                                                 for v in variants},
                               run_dir_of=lambda v, s: _variant_dir(out, v, s), num_classes=store.num_classes,
                               channels=store.channels):
            say(f"[experiment {name}] {run['variant']}, seed {run['seed']}: finished run read from {run['from']}")
            log.write("imported", **run)
        target = target_train_error(store.num_classes)
        records, not_finished = _train_runs(name, base, variants, seed_list, out, target, store.num_classes,
                                            finished, dev, train=train, say=say, log=log)
    finally:
        log.close()
    result = {
        "experiment": name, "preset": preset, "data": opened.description, "provenance": provenance(dev),
        "target_train_error": target,
        "target_rule": (f"the fraction of chance-level error that the paper's 25% was on CIFAR-10: "
                        f"(1 − 1/{store.num_classes}) × 0.25 / 0.9"),
        "question": abl.question, "switch": abl.switch, "seeds": seed_list,
        "steps_per_run": base.epochs * base.max_steps_per_epoch if base.max_steps_per_epoch else None,
        "scale": p.scale_note,
        "config": shared_config,
        "variants": [summarize_variant(v.name, records[v.name]) for v in variants],
        "not_run": [{"name": v.name, "reason": "PCA lighting does not apply to 1-channel (grey) images"}
                    for v in skipped],
        "not_finished": not_finished,
        "imported": [{"variant": v, "seed": r["seed"], "from": r["imported_from"]}
                     for v, runs in records.items() for r in runs if "imported_from" in r],
        "notes": list(abl.notes),
        "paper": _paper_claims(abl),
    }
    write_report(out, [result])
    return result


def _run_all(files, *, preset, seeds, seed, data, dataset, out, device, say, train) -> list[dict[str, Any]]:
    """Every experiment into ``out/<name>``, sharing the paper's setting's runs between them."""
    for path, r in files:
        if r["experiment"] not in NAMES:
            raise ExperimentError(f"--runs-from {path}: experiment {r['experiment']!r} is not one of "
                                  f"{', '.join(NAMES)}")
    root = Path(out or f"runs/experiments/all-{preset}")
    shared: dict[str, dict[str, Any]] = {}
    # activation trains last: figure1 (the paper's Figure 1 as the paper ran it) answers its question
    # better, so a run on a budget leaves it, and not another, unfinished
    by_name = {n: run_experiment(n, preset=preset, seeds=seeds, seed=seed, data=data, dataset=dataset,
                                 out=root / n, device=device, say=say, finished=shared, train=train,
                                 runs_from=[p for p, r in files if r["experiment"] == n])
               for n in training_order()}
    results = [by_name[n] for n in NAMES]
    write_report(root, results, combined=True)
    return results


def training_order() -> list[str]:
    """The order in which ``all`` trains the experiments: NAMES with activation last."""
    return sorted(NAMES, key=lambda n: n == "activation")


def _applicable_variants(abl, channels: int) -> tuple[list[Variant], list[Variant]]:
    """The variants that apply to data with ``channels`` channels, and those that do not (colour-only)."""
    variants, skipped = [], []
    for v in abl.variants:
        if channels != 3:
            if v.needs_colour:
                skipped.append(v)
                continue
            # PCA lighting does nothing to grey images: its σ is left at the recipe's value, so a
            # variant that differs from the paper's setting only there is the paper's setting
            v = dataclasses.replace(v, overrides={k: x for k, x in v.overrides.items() if k != "lighting_std"})
        variants.append(v)
    return variants, skipped


def _share_sibling_run(out: Path, name: str, base: Config, cfg: Config, finished: dict[str, dict[str, Any]]) -> None:
    """Within ``all``: put a run of the same config that another experiment's folder finished
    earlier (in any order of training) into ``finished``, so that it is shared, not trained again."""
    key = config_key(cfg)
    if key in finished:
        return
    for other in NAMES:
        for v in ablation(other).variants if other != name else ():
            if config_key(variant_config(base, v, cfg.seed)) != key:
                continue
            path = _variant_dir(out.parent / other, v.name, cfg.seed) / RESULT_NAME
            record = json.loads(path.read_text()) if path.is_file() else {}
            if record.get("status") == "done" and "same_run_as" not in record:
                finished[key] = record
                return


def _train_runs(name: str, base: Config, variants: list[Variant], seed_list: list[int], out: Path, target: float,
                num_classes: int, finished, dev, *, train: bool, say, log: JsonlWriter):
    """Every variant × seed, seed by seed: trained (or resumed, or read back when finished earlier);
    with ``train=False`` the runs not finished are listed instead. Returns (records per variant, not
    finished)."""
    records: dict[str, list[dict[str, Any]]] = {v.name: [] for v in variants}
    not_finished: list[dict[str, Any]] = []
    total, n = len(variants) * len(seed_list), 0
    for s in seed_list:
        for v in variants:
            n += 1
            run_dir = _variant_dir(out, v.name, s)
            cfg = variant_config(base, v, s)
            done_before = (run_dir / RESULT_NAME).is_file()
            if finished is not None and not done_before:
                _share_sibling_run(out, name, base, cfg, finished)
            shared_done = bool(finished) and finished.get(config_key(cfg), {}).get("status") == "done"
            if not train and not done_before and not shared_done:   # (a shared run is a record, not training)
                not_finished.append({"variant": v.name, "seed": s})
                continue
            say(f"[experiment {name}] run {n}/{total}: {v.name}, seed {s}"
                + (" (finished earlier)" if done_before else ""))
            log.write("run", variant=v.name, seed=s, run_dir=str(run_dir), finished_earlier=done_before)
            record = _one_run(cfg, run_dir, target, num_classes, finished, dev)
            stop.check(f"experiment {name} (run {n}/{total} finished)")   # a signal in its last step
            if finished is not None and "same_run_as" not in record:
                finished[config_key(cfg)] = record
            log.write("run_end", variant=v.name, seed=s, status=record["status"],
                      test_error=record.get("test_error"), steps_to_target=record.get("steps_to_target"))
            records[v.name].append(record)
    return records, not_finished


def _paper_claims(abl) -> dict[str, Any]:
    return {"question": abl.question,
            "comparisons": [{"better": c.better, "worse": c.worse, "measure": c.measure, "claim": c.paper,
                             "top1_change": c.paper_top1, "top5_change": c.paper_top5,
                             "steps_ratio": c.paper_ratio} for c in abl.comparisons]}


def variant_config(base: Config, variant: Variant, seed: int) -> Config:
    """The shared config with the variant's switch and the seed (which fixes the initial weights'
    draw, the data order and every augmentation and dropout draw). Every model argument is
    written out (the data's own — classes, channels, input size — are filled in at training), so
    the saved configs of two variants differ exactly in the switch."""
    defaults = {name: param.default for name, param in
                inspect.signature(model_class(base.arch).__init__).parameters.items()
                if param.default is not inspect.Parameter.empty
                and name not in ("num_classes", "in_channels", "input_size")}
    return base.updated({"model": {**defaults, **base.model}, **variant.overrides, "seed": seed})
