"""The run config: one typed, frozen dataclass; the recipes are instances of it.

    from alexnet.recipes import resolve_config
    cfg = resolve_config("paper", {"epochs": 1, "model.dropout": 0.0})
    cfg.lr, cfg.model["dropout"]
    cfg = cfg.updated({"lr": 0.02})           # a new, validated config
    Config.from_dict(json.loads(path.read_text()))   # config.json round-trips

Every key is checked from its field type (``Literal`` choices, numbers with their bounds, booleans,
optional values); an unknown key is an error that lists the valid ones. ``model`` holds the keyword
arguments of the architecture (:func:`alexnet.models.create`), checked against that builder's own
signature, so ``model.dropout=0.3`` or ``model.init=paper`` is validated like any other key, on a
new run and on ``--resume``.

The recipes are instances of it, in :mod:`alexnet.recipes` (every number of a recipe is written
there and nowhere else).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Union

from .models import registry

class FrozenDict(dict):
    """A dict that refuses changes (a frozen config's model arguments); JSON- and pickle-friendly."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("a Config is frozen: use cfg.updated({'model.KEY': VALUE}) for a changed copy")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __reduce__(self):
        return (FrozenDict, (dict(self),))


def _num(default, lo=None, hi=None, *, lo_open=False, hi_open=False, help=None):
    return field(default=default, metadata={"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open, "help": help})


@dataclass(frozen=True)
class Config:
    """Every setting of a run. Field comments say what each key means; bounds are checked."""

    recipe: str = "custom"
    arch: str = "alexnet2012"           # a registered model (alexnet.models.list_models())
    model: Mapping[str, Any] = field(default_factory=dict)   # keyword arguments of the arch's builder
    dataset: Literal["fashion-mnist"] | None = None            # a named data set found on this machine
    data: str | None = None                                    # a prepared store, ImageFolder or idx folder
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = _num(0.01, 0.0, lo_open=True, help="initial learning rate")
    momentum: float = _num(0.9, 0.0, 1.0, hi_open=True)
    weight_decay: float = _num(0.0, 0.0, help="weight decay")
    decay_biases: bool = False          # weight decay on biases too (torchvision) or weights only (paper)
    bias_lr_mult: float = _num(1.0, 0.0)  # biases learn at lr × this (cuda-convnet2 and Caffe: 2)
    batch_size: int = _num(128, 1, help="global batch (split over torchrun's processes)")  # global batch; each of N ranks takes batch_size / N
    epochs: int = _num(90, 1, help="number of epochs")
    schedule: Literal["plateau", "step", "linear", "constant"] = "constant"
    lr_factor: float = _num(0.1, 0.0, 1.0, lo_open=True)
    plateau_patience: int = _num(5, 1)  # epochs without improvement before the lr is divided
    plateau_min_delta: float = _num(0.001, 0.0)   # an improvement lowers top-1 error by at least this
    max_lr_drops: int = _num(3, 0)
    step_epochs: int = _num(30, 1)      # "step": lr × lr_factor every step_epochs epochs
    warmup_steps: int = _num(0, 0)      # linear lr warm-up from lr/warmup_steps over the first steps
    augment: Literal["paper", "torchvision", "flip", "none"] = "none"
    input_size: int = _num(224, 1, help="side of the images the net sees")  # side of the images the net sees (the crop)
    resize: int = _num(0, 0)            # side stored images are resized to before the crop; 0: the stored
    #                                     size (256: the paper's 224-in-256 crops), or input_size (the whole
    #                                     image) for stores smaller than input_size (Fashion-MNIST's 28 px)
    whole_image: bool = False           # resize whole stored images to input_size (no crops)
    crops_flips: bool = True            # paper augmentation's random crops and mirror images (False: the
    #                                     centre crop, unmirrored: the augmentation experiment's "none")
    lighting_std: float = _num(0.1, 0.0)          # σ of the PCA lighting coefficients α_i
    lighting_scale: Literal["cuda-convnet2", "stddev", "eigenvalue"] = "cuda-convnet2"
    max_steps_per_epoch: int = _num(0, 0)         # 0: a full pass; N: each epoch stops after N batches
    holdout: int = _num(0, 0, help="N > 0: validate on N training images held out of training (by "
                                   "holdout_seed); the data's val split is then the test set, evaluated once "
                                   "at the end")
    holdout_seed: int = _num(0, 0, help="seed of the choice of held-out images")
    seed: int = _num(0, 0, help="seed of the initial weights, data order, augmentation, dropout")
    workers: int = _num(2, 0, help="decoding threads")  # decoding threads
    device: str = "auto"                # "auto", "cpu", "cuda", "cuda:1", ...
    # "auto" (amp, channels_last, compile): the fastest for the device and host, chosen with its reasons by
    # alexnet.device.choose_fast_path (bf16 autocast on CUDA and on CPUs with native bf16; channels-last on
    # CUDA; no torch.compile) and recorded in log.jsonl's start event
    amp: Literal["auto", "bf16", "off"] = "auto"
    channels_last: bool | Literal["auto"] = "auto"
    compile: bool | Literal["auto"] = "auto"
    log_interval: int = _num(20, 1)     # steps between log lines
    eval_every: int = _num(1, 1)        # epochs between validations
    freeze: Literal["features"] | None = None      # fine-tuning: train fc6-fc8 only
    finetuned_from: str | None = None              # fine-tuning: the weights file the run started from
    keep_epoch_weights: bool = False    # write RUN/epochs/epoch-NNN.safetensors (the conv layers) after
    #                                     each epoch, for `alexnet explain evolution`

    def __post_init__(self):
        hints = _hints()
        for f in dataclasses.fields(self):
            if f.name == "model":
                continue
            object.__setattr__(self, f.name, check_value(f.name, getattr(self, f.name), hints[f.name], f.metadata))
        if self.arch not in registry.list_models():
            raise ValueError(f"config arch={self.arch!r} is not a registered model ({', '.join(registry.list_models())})")
        object.__setattr__(self, "model", FrozenDict(check_model_args(self.arch, self.model)))

    # -- conversions -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (what config.json holds)."""
        return {f.name: dict(self.model) if f.name == "model" else getattr(self, f.name)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "config") -> "Config":
        """Strict: every key must be a field (``model`` a dict of model arguments)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{where} must hold an object of KEY: VALUE pairs, got {type(data).__name__}")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ValueError(f"{where}: unknown config key(s) {', '.join(map(repr, unknown))}; valid keys: "
                             f"{', '.join(FIELDS)}")
        if "model" in data and not isinstance(data["model"], Mapping):
            raise ValueError(f"{where}: model must be an object of model arguments, got {data['model']!r}")
        return cls(**{k: dict(v) if k == "model" else v for k, v in data.items()})

    def updated(self, overrides: Mapping[str, Any] | None) -> "Config":
        """A new config with ``overrides`` applied: flat keys, ``model.X`` for a model argument, or
        ``model`` as a dict merged into the current arguments. Validated like any config."""
        values = self.to_dict()
        for key, value in (overrides or {}).items():
            if key.startswith("model."):
                values["model"][key[len("model."):]] = value
            elif key == "model":
                if not isinstance(value, Mapping):
                    raise ValueError(f"config model must be an object of model arguments, got {value!r}")
                values["model"].update(value)
            elif key in FIELDS:
                values[key] = value
            else:
                raise ValueError(f"unknown config key {key!r}; valid keys: {', '.join(FIELDS)} and "
                                 f"model.<argument> for the model's keyword arguments")
        return Config.from_dict(values)


FIELDS = tuple(f.name for f in dataclasses.fields(Config))


def field_help(name: str) -> str | None:
    """The help text a config key's field carries (the CLI's flag for it shows it)."""
    return next(f.metadata.get("help") for f in dataclasses.fields(Config) if f.name == name)


def parse_field(name: str, text: str):
    """A command-line string for config key ``name``, parsed as JSON where it parses and checked as
    the field's type and bounds (``--epochs 0`` fails like ``--set epochs=0``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    field_ = next(f for f in dataclasses.fields(Config) if f.name == name)
    return check_value(name, value, _hints()[name], field_.metadata)


def _hints() -> dict[str, Any]:
    global _HINTS
    if _HINTS is None:
        _HINTS = typing.get_type_hints(Config)
    return _HINTS


_HINTS: dict[str, Any] | None = None


# ------------------------------------------------------------------------------------ type checks

def _describe(annotation) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " or ".join(json.dumps(a) for a in typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        annotation, getattr(annotation, "__name__", str(annotation)))


def _matches(value, annotation) -> tuple[bool, Any]:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        # Literal[1, 2] must not admit True (== 1), nor "1"
        ok = any(value == a and type(value) is type(a) for a in typing.get_args(annotation))
        return ok, value
    if origin in (Union, types.UnionType):
        for a in typing.get_args(annotation):
            ok, v = _matches(value, a)
            if ok:
                return True, v
        return False, value
    if annotation is type(None):
        return value is None, value
    if annotation is bool:
        return isinstance(value, bool), value
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return ok, float(value) if ok else value
    if annotation is str:
        return isinstance(value, str), value
    return True, value


def check_value(name: str, value, annotation, bounds: Mapping[str, Any] | None = None):
    """``value`` if it fits ``annotation`` (and the ``lo``/``hi`` bounds), else a ValueError that
    names the key, the value and what it should be. Integers are accepted where a float is asked."""
    ok, value = _matches(value, annotation)
    if not ok:
        raise ValueError(f"config {name}={value!r} is not valid: expected {_describe(annotation)}")
    bounds = bounds or {}
    lo, hi = bounds.get("lo"), bounds.get("hi")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if lo is not None and (value < lo or (bounds.get("lo_open") and value == lo)):
            raise ValueError(f"config {name}={value!r} must be {'>' if bounds.get('lo_open') else '≥'} {lo}")
        if hi is not None and (value > hi or (bounds.get("hi_open") and value == hi)):
            raise ValueError(f"config {name}={value!r} must be {'<' if bounds.get('hi_open') else '≤'} {hi}")
    return value


def model_parameters(arch: str) -> dict[str, Any]:
    """{argument: type annotation} of an architecture's constructor (its keyword arguments)."""
    cls = registry.model_class(arch)
    hints = typing.get_type_hints(cls.__init__)
    return {name: hints.get(name, Any) for name in inspect.signature(cls.__init__).parameters if name != "self"}


def check_model_args(arch: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` checked against ``arch``'s constructor: unknown names and wrong types are errors."""
    params = model_parameters(arch)
    out = {}
    for name, value in dict(args).items():
        if name not in params:
            raise ValueError(f"model.{name} is not an argument of {arch}; its arguments: "
                             f"{', '.join(params)}")
        out[name] = check_value(f"model.{name}", value, params[name])
        if name in ("num_classes", "in_channels", "input_size") and out[name] < 1:
            raise ValueError(f"config model.{name}={value!r} must be ≥ 1")
    return out


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["lr=0.1", "model.dropout=0"]`` → ``{"lr": 0.1, "model.dropout": 0}``: values are JSON where
    they parse (numbers, true/false/null, lists), else strings."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. --set lr=0.02")
        try:
            out[key.strip()] = json.loads(value.strip())
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON (``.json``) or TOML (``.toml``) file of config keys (``model`` as a table)."""
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
