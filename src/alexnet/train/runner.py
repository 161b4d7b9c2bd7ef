"""A whole run from a config: set up processes, data, model; write config.json; train.

    from alexnet.train.runner import run_training
    summary = run_training(cfg, "runs/exp1")                     # a new run (cfg: alexnet.config.Config)
    summary = run_training(None, "runs/exp1", resume=True)       # continue it (config.json is read)

Under ``torchrun`` every process calls this; rank 0 writes the run directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from torch import nn

from ..atomic import DiskFull, atomic_write_text
from ..config import Config, model_parameters
from ..jsonl import JsonlWriter
from ..lock import exclusive
from .checkpoint import CHECKPOINT_NAME
from .data import TrainData, build_data
from .distributed import setup_distributed, teardown_distributed
from .log import LOG_NAME
from .loop import Trainer
from .schedule import check_schedule

CONFIG_NAME = "config.json"


def read_run_config(run_dir: str | Path) -> Config:
    """The config of an earlier run (``RUN_DIR/config.json``), checked like a new one."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"--resume {run_dir}: no {CONFIG_NAME} there; pass the directory of an "
                                f"earlier `alexnet train` run")
    if not (Path(run_dir) / CHECKPOINT_NAME).is_file():
        raise FileNotFoundError(f"--resume {run_dir}: no {CHECKPOINT_NAME} yet (the run stopped before its "
                                f"first checkpoint); start it again without --resume")
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from e
    return Config.from_dict(data, where=str(path))


def can_resume(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a run to continue (its config.json and a checkpoint)."""
    return (Path(run_dir) / CONFIG_NAME).is_file() and (Path(run_dir) / CHECKPOINT_NAME).is_file()


def complete_model_args(cfg: Config, data: TrainData) -> Config:
    """Fill the model arguments the data decides (classes, channels, input size) unless set."""
    fill = {"num_classes": data.num_classes, "in_channels": data.channels}
    if "input_size" in model_parameters(cfg.arch):
        fill["input_size"] = cfg.input_size
    return cfg.updated({"model": {**fill, **cfg.model}})


def run_training(cfg: Config | None, run_dir: str | Path, *, resume: bool = False,
                 overrides: dict[str, Any] | None = None, model: nn.Module | None = None,
                 on_step: Callable | None = None) -> dict[str, Any]:
    """Train ``cfg`` in ``run_dir`` (or resume it, applying ``overrides`` such as a larger
    ``epochs``). ``model``: a prepared net (fine-tuning); built from the config when None.
    Returns :meth:`Trainer.fit`'s summary."""
    run_dir = Path(run_dir)
    if resume:
        read_run_config(run_dir)   # a wrong --resume path is reported before anything is created there
    with _run_lock(run_dir):
        return _run_training(cfg, run_dir, resume, overrides, model, on_step)


def _run_lock(run_dir: Path):
    """Rank 0 (or a plain process) holds ``RUN_DIR/.lock`` for the whole run: a second training into
    the same directory is refused at once, naming the first (it would overwrite its files)."""
    if int(os.environ.get("RANK", "0")) != 0:
        return contextlib.nullcontext()
    return exclusive(run_dir, "training", f"Wait for it, stop it (Ctrl-C saves a checkpoint; then "
                                          f"--resume {run_dir}), or choose another --out.")


def _run_training(cfg: Config | None, run_dir: Path, resume: bool, overrides: dict[str, Any] | None,
                  model: nn.Module | None, on_step: Callable | None) -> dict[str, Any]:
    if resume:
        before = read_run_config(run_dir)
        cfg = before.updated(overrides)
    elif cfg is None:
        raise ValueError("run_training needs a config unless resume=True")
    elif (run_dir / CHECKPOINT_NAME).exists():
        raise ValueError(f"{run_dir} already holds a run (checkpoint.pt); continue it with --resume {run_dir} "
                         f"or choose another --out")
    ctx = setup_distributed(cfg.device)
    try:
        data = build_data(cfg, ctx)
        check_schedule(cfg, data.val_store is not None, data.description.split(":")[0])
        if model is None:
            cfg = complete_model_args(cfg, data)
        if ctx.is_main:
            atomic_write_text(run_dir / CONFIG_NAME, json.dumps(cfg.to_dict(), indent=2) + "\n")
        trainer = Trainer(cfg, run_dir, data, model=model, ctx=ctx, resume=resume, on_step=on_step)
        if resume and cfg.lr != before.lr:   # --resume RUN --lr X: the checkpoint's schedule gives way to X
            trainer.schedule.rebase(cfg.lr, before.lr)
        try:
            summary = trainer.fit()
        except DiskFull as e:
            ckpt = run_dir / CHECKPOINT_NAME
            safe = (f"the last checkpoint {ckpt} is intact: free some space, then continue with "
                    f"`alexnet train --resume {run_dir}`" if ckpt.is_file() else "no checkpoint was written yet")
            raise DiskFull(e.errno, f"{e.strerror}. Training stopped; {safe}") from None
        if summary["status"] == "done" and data.test_store is not None and ctx.is_main:
            summary["test"] = test_once(trainer, data)
        return summary
    finally:
        teardown_distributed(ctx)


def test_once(trainer: Trainer, data: TrainData) -> dict[str, Any]:
    """A run with ``holdout``: the final weights on the test set (the data's val split), once, at
    the end; logged as the ``test`` event. Nothing during training has looked at these images."""
    import time

    from ..data.loader import StoreLoader
    from ..evaluate.run import evaluate_model
    started = time.perf_counter()
    loader = StoreLoader(data.test_store, data.per_rank_batch, shuffle=False, drop_last=False,
                         workers=trainer.cfg.workers, device="cpu" if trainer.device.type != "cuda" else trainer.device,
                         in_memory=data.test_store.image_size < 64)
    m = evaluate_model(trainer.model, loader, data.view_fn, device=trainer.device, precision=trainer.precision,
                       progress=False)
    record = {"step": trainer.step, "test_top1_error": m["top1_error"], "test_top5_error": m["top5_error"],
              "test_loss": m["loss"], "test_images": m["num_images"], "test_seconds": time.perf_counter() - started}
    with JsonlWriter(trainer.run_dir / LOG_NAME) as log:
        log.write("test", **record)
    print(f"test (once, at the end): top-1/top-5 error {m['top1_error']:.4f}/{m['top5_error']:.4f} on "
          f"{m['num_images']} images", file=sys.stderr, flush=True)
    return record
