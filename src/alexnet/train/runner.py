"""A whole run from a config: set up processes, data, model; write config.json; train.

    from alexnet.train.runner import run_training
    summary = run_training(cfg, "runs/exp1")                     # a new run
    summary = run_training(None, "runs/exp1", resume=True)       # continue it (config.json is read)

Under ``torchrun`` every process calls this; rank 0 writes the run directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from torch import nn

from ..atomic import atomic_write_text
from .checkpoint import CHECKPOINT_NAME
from .data import build_data
from .distributed import setup_distributed, teardown_distributed
from .loop import Trainer
from .recipes import validate

CONFIG_NAME = "config.json"


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"--resume {run_dir}: no {CONFIG_NAME} there; pass the directory of an "
                                f"earlier `alexnet train` run")
    if not (Path(run_dir) / CHECKPOINT_NAME).is_file():
        raise FileNotFoundError(f"--resume {run_dir}: no {CHECKPOINT_NAME} yet (the run stopped before its "
                                f"first checkpoint); start it again without --resume")
    return json.loads(path.read_text())


def complete_model_args(cfg: dict[str, Any], data) -> None:
    """Fill the model arguments the data decides (classes, channels, input size) unless set."""
    cfg["model"].setdefault("num_classes", data.num_classes)
    cfg["model"].setdefault("in_channels", data.channels)
    if cfg["arch"] == "alexnet2012":
        cfg["model"].setdefault("input_size", cfg["input_size"])


def run_training(cfg: dict[str, Any] | None, run_dir: str | Path, *, resume: bool = False,
                 overrides: dict[str, Any] | None = None, model: nn.Module | None = None,
                 on_step: Callable | None = None) -> dict[str, Any]:
    """Train ``cfg`` in ``run_dir`` (or resume it, applying ``overrides`` such as a larger
    ``epochs``). ``model``: a prepared net (fine-tuning); built from the config when None.
    Returns :meth:`Trainer.fit`'s summary."""
    run_dir = Path(run_dir)
    if resume:
        cfg = read_run_config(run_dir)
        for key, value in (overrides or {}).items():
            if key not in cfg:
                raise ValueError(f"unknown config key {key!r}")
            cfg[key] = value
        validate(cfg)
    elif cfg is None:
        raise ValueError("run_training needs a config unless resume=True")
    elif (run_dir / CHECKPOINT_NAME).exists():
        raise ValueError(f"{run_dir} already holds a run (checkpoint.pt); continue it with --resume {run_dir} "
                         f"or choose another --out")
    ctx = setup_distributed(cfg["device"])
    try:
        data = build_data(cfg, ctx)
        if model is None:
            complete_model_args(cfg, data)
        if ctx.is_main:
            atomic_write_text(run_dir / CONFIG_NAME, json.dumps(cfg, indent=2, default=str) + "\n")
        trainer = Trainer(cfg, run_dir, data, model=model, ctx=ctx, resume=resume, on_step=on_step)
        return trainer.fit()
    finally:
        teardown_distributed(ctx)
