"""Training recipes: every number of a recipe is written here and nowhere else.

    from alexnet.train.recipes import resolve_config
    cfg = resolve_config("paper", overrides={"epochs": 1, "model.dropout": 0.0})
    cfg["lr"], cfg["model"]["dropout"]

A config is a plain dict (JSON-serialisable, saved as ``config.json`` in the run directory).
Keys are flat except ``model`` (keyword arguments for :func:`alexnet.models.create`), which
``--set model.KEY=VALUE`` reaches with a dot. Unknown keys are errors that name the key and
list the valid ones.

Recipes:

- ``paper`` (SPEC §3): SGD, momentum 0.9, batch 128, weight decay 5e-4 on weights only,
  lr 0.01 divided by 10 when the validation top-1 error has not improved for
  ``plateau_patience`` epochs, at most three times, 90 epochs; random 224 crops of the 256
  image + flips + PCA lighting (σ=0.1) + mean image; the paper's init.
  The paper gives no patience; 5 epochs (improvement = at least 0.1 point of top-1 error) is
  our choice, which fits three drops into 90 epochs on ILSVRC.
- ``torchvision`` (SPEC §5, for ``alexnet_owt``): SGD momentum 0.9, lr 0.01, batch 256,
  weight decay 1e-4 (torchvision decays biases too), ×0.1 every 30 epochs, 90 epochs,
  RandomResizedCrop + flip + mean/std.
- ``d2l`` (seed 003): Adam lr 1e-3, batch 128, 5 epochs, Fashion-MNIST resized to 224, no
  augmentation, no weight decay.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

# Keys shared by every recipe, with their defaults. A recipe overrides some of them.
BASE: dict[str, Any] = {
    "recipe": None,
    "arch": "alexnet2012",
    "model": {},                 # keyword arguments for alexnet.models.create
    "dataset": None,             # "fashion-mnist" or null (then --data says what to read)
    "data": None,                # prepared store, ImageFolder or Fashion-MNIST directory
    "optimizer": "sgd",          # "sgd" or "adam"
    "lr": 0.01,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "decay_biases": False,       # weight decay on biases too (torchvision) or weights only (paper)
    "batch_size": 128,           # global batch; each of N ranks gets batch_size / N
    "epochs": 90,
    "schedule": "constant",      # "plateau", "step" or "constant"
    "lr_factor": 0.1,
    "plateau_patience": 5,       # epochs without improvement before the lr is divided
    "plateau_min_delta": 0.001,  # an improvement is a drop of top-1 error by at least this
    "max_lr_drops": 3,
    "step_epochs": 30,
    "augment": "none",           # "paper", "torchvision", "flip" or "none"
    "input_size": 224,           # side of the images the net sees
    "whole_image": False,        # resize whole stored images to input_size (no crops), as small stores are
    "lighting_std": 0.1,         # σ of the PCA lighting coefficients α_i
    "max_steps_per_epoch": 0,    # 0: a full pass; N: stop each epoch after N batches (CPU demo)
    "seed": 0,
    "workers": 2,
    "device": "auto",            # "auto", "cpu", "cuda", "cuda:1", ...
    "amp": "auto",               # "auto" (bf16 on CUDA), "bf16" or "off"
    "channels_last": "auto",     # "auto" (on CUDA), true or false
    "compile": False,
    "log_interval": 20,          # steps between log lines
    "eval_every": 1,             # epochs between validations
    "freeze": None,              # fine-tuning: null or "features"
    "finetuned_from": None,      # fine-tuning: the weights file the run started from
}

RECIPES: dict[str, dict[str, Any]] = {
    "paper": {
        "arch": "alexnet2012",
        "optimizer": "sgd", "lr": 0.01, "momentum": 0.9,
        "weight_decay": 5e-4, "decay_biases": False,
        "batch_size": 128, "epochs": 90,
        "schedule": "plateau", "lr_factor": 0.1, "max_lr_drops": 3,
        "augment": "paper", "input_size": 224, "lighting_std": 0.1,
        "model": {"init": "paper"},
    },
    "torchvision": {
        "arch": "alexnet_owt",
        "optimizer": "sgd", "lr": 0.01, "momentum": 0.9,
        "weight_decay": 1e-4, "decay_biases": True,
        "batch_size": 256, "epochs": 90,
        "schedule": "step", "lr_factor": 0.1, "step_epochs": 30,
        "augment": "torchvision", "input_size": 224,
    },
    "d2l": {
        "arch": "alexnet2012",
        "dataset": "fashion-mnist",
        "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0,
        "batch_size": 128, "epochs": 5,
        "schedule": "constant",
        "augment": "none", "input_size": 224,
        "model": {"in_channels": 1, "num_classes": 10},
    },
}

DEFAULT_RECIPE = {"alexnet2012": "paper", "alexnet_owt": "torchvision"}

CHOICES = {
    "optimizer": ("sgd", "adam"),
    "schedule": ("plateau", "step", "constant"),
    "augment": ("paper", "torchvision", "flip", "none"),
    "amp": ("auto", "bf16", "off"),
    "freeze": (None, "features"),
    "dataset": (None, "fashion-mnist"),
}


def recipe_names() -> list[str]:
    return sorted(RECIPES)


def _parse_value(text: str) -> Any:
    """``--set`` values: JSON where it parses (numbers, true/false/null, lists), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["lr=0.1", "model.dropout=0"]`` → ``{"lr": 0.1, "model.dropout": 0}``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. --set lr=0.02")
        out[key.strip()] = _parse_value(value.strip())
    return out


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON (``.json``) or TOML (``.toml``) config file into a flat/``model`` dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        if path.suffix == ".toml":
            import tomllib
            data = tomllib.loads(path.read_text())
        else:
            data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"config file {path} could not be parsed ({e}); write it as JSON "
                         f"(or TOML with a .toml suffix)") from e
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold an object of KEY: VALUE pairs")
    return data


def _flatten(overrides: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "model" and isinstance(value, dict):
            flat.update({f"model.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def resolve_config(recipe: str | None = None, overrides: dict[str, Any] | None = None, *,
                   arch: str | None = None) -> dict[str, Any]:
    """The base keys, then the recipe's values, then ``overrides`` (flat; ``model.X`` for model args).

    ``recipe`` None picks the architecture's default (``paper`` for alexnet2012, ``torchvision``
    for alexnet_owt). Raises ValueError naming an unknown key or a value outside its choices.
    """
    overrides = _flatten(dict(overrides or {}))
    arch = arch or overrides.get("arch")
    recipe = recipe or overrides.pop("recipe", None) or DEFAULT_RECIPE.get(arch or "alexnet2012", "paper")
    overrides.pop("recipe", None)
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known recipes: {', '.join(recipe_names())}")
    cfg = copy.deepcopy(BASE)
    for key, value in copy.deepcopy(RECIPES[recipe]).items():
        cfg[key] = value
    cfg["recipe"] = recipe
    if arch:
        cfg["arch"] = arch
    for key, value in overrides.items():
        if key.startswith("model."):
            cfg["model"][key[len("model."):]] = value
        elif key in cfg:
            cfg[key] = value
        else:
            raise ValueError(f"unknown config key {key!r}; valid keys: {', '.join(sorted(BASE))} "
                             f"and model.<argument> for the model's keyword arguments")
    validate(cfg)
    return cfg


def validate(cfg: dict[str, Any]) -> None:
    for key, choices in CHOICES.items():
        if cfg[key] not in choices:
            raise ValueError(f"config {key}={cfg[key]!r} is not one of {list(choices)}")
    for key in ("batch_size", "epochs", "input_size", "log_interval", "eval_every"):
        if not isinstance(cfg[key], int) or isinstance(cfg[key], bool) or cfg[key] < 1:
            raise ValueError(f"config {key} must be a positive integer, got {cfg[key]!r}")
    for key in ("lr", "momentum", "weight_decay", "lr_factor", "lighting_std"):
        if not isinstance(cfg[key], (int, float)) or isinstance(cfg[key], bool) or not math.isfinite(cfg[key]) \
                or cfg[key] < 0:
            raise ValueError(f"config {key} must be a non-negative number, got {cfg[key]!r}")
    if not isinstance(cfg["model"], dict):
        raise ValueError(f"config model must be an object of model arguments, got {cfg['model']!r}")
