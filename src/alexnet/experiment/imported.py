"""Runs finished elsewhere: the records of an earlier ``results.json`` counted as finished runs.

    alexnet experiment all --seeds 3 --out runs/exp --runs-from old/activation/results.json --runs-from ...

A ``results.json`` keeps every finished run's whole record (final errors, the training-error
curve, steps, speed). When seeds ran on another machine, or the run directories of an earlier
checkout are gone, ``--runs-from`` writes each of those records into the run directory that
training would have used (``result.json`` and the ``config.json`` it would have saved), so the
experiment trains only the runs that no file holds and reports all of them. A record says where
it came from (``imported_from``, ``original_run_dir``); the reports list imported runs apart.

Only records of the same experiment, preset, data and shared config are taken: anything else is
an :class:`ExperimentError` naming the file and what differs. A run already finished here is
kept (never overwritten by a file's record).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Sequence

from ..atomic import atomic_write_text
from ..config import Config
from ..train.runner import CONFIG_NAME, complete_model_args
from .ablations import ExperimentError

RESULT_NAME = "result.json"          # a finished run's record, in its run directory


def with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """An earlier file's config with the config keys added since (``holdout``, ...) at their
    defaults: the run trained what a config with those defaults trains."""
    defaults = {f.name: f.default for f in dataclasses.fields(Config) if f.default is not dataclasses.MISSING}
    return {**{k: v for k, v in defaults.items() if k not in config and k not in ("data", "dataset", "device")},
            **config}


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """One earlier ``results.json`` (an experiment's, not ``all``'s combined report)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ExperimentError(f"--runs-from {path}: no such file") from None
    except (OSError, ValueError) as e:
        raise ExperimentError(f"--runs-from {path}: not a readable results.json ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("variants"), list) or "experiment" not in data:
        raise ExperimentError(f"--runs-from {path}: not an experiment's results.json (it needs 'experiment' and "
                              f"'variants'; pass each experiment's results.json, not a list)")
    return data


def config_as_trained(saved: dict[str, Any] | None, preset: str | None) -> dict[str, Any]:
    """A saved experiment config as it trained: keys added since at their defaults
    (:func:`with_defaults`), and, before the CPU presets pinned ``amp: off``, their ``"auto"``, which
    that code's rule trained in float32 on a CPU."""
    config = with_defaults(saved or {})
    if preset in ("smoke", "cpu") and config.get("amp") == "auto":
        return {**config, "amp": "off"}
    return config


def import_runs(files: Sequence[tuple[Path, dict[str, Any]]], *, name: str, preset: str, data: str,
                config: dict[str, Any], seeds: Sequence[int], variant_configs: dict[str, Callable[[int], Config]],
                run_dir_of: Callable[[str, int], Path], num_classes: int, channels: int) -> list[dict[str, Any]]:
    """Write the finished runs of ``files`` (those of experiment ``name``) that are missing here.

    ``config`` is the shared config as results.json reports it; ``variant_configs[v](seed)`` the
    config a variant's run trains; returns one ``{"variant", "seed", "from"}`` per run written."""
    written = []
    for path, result in files:
        if result["experiment"] != name:
            continue
        differs = [f"{key}: {result.get(key)!r} there, {here!r} here"
                   for key, here in (("preset", preset), ("data", data)) if result.get(key) != here]
        old = config_as_trained(result.get("config"), result.get("preset"))
        if old != config:
            keys = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
            differs.append("config: " + ", ".join(f"{k} = {old.get(k)!r} there, {config.get(k)!r} here"
                                                  for k in keys))
        if differs:
            raise ExperimentError(f"--runs-from {path}: not the same {name} experiment ({'; '.join(differs)}); "
                                  f"only runs of the same preset, data and config can be merged")
        for variant in result["variants"]:
            if variant.get("name") not in variant_configs:
                raise ExperimentError(f"--runs-from {path}: variant {variant.get('name')!r} is not one of "
                                      f"{name}'s ({', '.join(variant_configs)})")
            for record in variant.get("runs", []):
                seed = record.get("seed")
                if record.get("status") != "done" or seed not in seeds:
                    continue
                run_dir = run_dir_of(variant["name"], seed)
                if (run_dir / RESULT_NAME).is_file():
                    continue                                  # finished here: kept
                cfg = complete_model_args(variant_configs[variant["name"]](seed),
                                          SimpleNamespace(num_classes=num_classes, channels=channels))
                new = {k: v for k, v in record.items() if k != "same_run_as"}
                new.update(run_dir=str(run_dir), original_run_dir=record.get("same_run_as", record.get("run_dir")),
                           imported_from=str(path))
                run_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_text(run_dir / CONFIG_NAME, json.dumps(cfg.to_dict(), indent=2) + "\n")
                atomic_write_text(run_dir / RESULT_NAME, json.dumps(new, indent=1) + "\n")
                written.append({"variant": variant["name"], "seed": seed, "from": str(path)})
    return written
