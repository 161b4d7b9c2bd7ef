"""Training curves from run logs: the one plotter (``alexnet visualize curves``, the demo's
``curves.png``, each experiment's figure of all its variants).

    curves_figure("runs/demo", "curves.png")                              # one run
    curves_figure({"relu": "runs/a", "tanh": "runs/b"}, "activation.png")   # several, one figure

Three panels: the training loss per logging interval (against the step), the top-1 error per epoch
(training: solid, validation: dashed; against the step at the epoch's end, so runs of different
epoch lengths line up) and the learning rate. 1500×450 px.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from ..atomic import atomic_path
from .log import LOG_NAME, read_run_log

DPI = 100


def read_log(path: str | os.PathLike) -> tuple[list[dict], list[dict]]:
    """RUN_DIR/log.jsonl (or the file) → (epoch records, interval records).

    Epoch records carry ``epoch`` 1-based, as the training log prints it (the file holds the
    0-based index of the finished epoch). Other events are ignored; a line cut short by a kill
    is skipped.
    """
    path = Path(path)
    if path.is_dir():
        path = path / LOG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"training log not found: {path} (the run directory of `alexnet train` "
                                f"holds {LOG_NAME})")
    epochs, intervals = [], []
    for record in read_run_log(path):   # (steps a resumption trained again are left out)
        event = record.get("event")
        if event == "epoch" and isinstance(record.get("epoch"), (int, float)):
            epochs.append({**record, "epoch": record["epoch"] + 1})
        elif event == "step" and isinstance(record.get("loss"), (int, float)):
            intervals.append(record)
    return epochs, intervals


def _numbers(records: list[dict], x: str, y: str) -> tuple[list, list]:
    pairs = [(r[x], r[y]) for r in records
             if isinstance(r.get(x), (int, float)) and isinstance(r.get(y), (int, float))
             and not isinstance(r.get(y), bool)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def curves_figure(runs: str | os.PathLike | Mapping[str, str | os.PathLike], out: str | os.PathLike,
                  title: str | None = None) -> Path:
    """Draw one run (a run directory or log file) or several (``{label: run}``) into ``out`` (PNG).

    Raises ValueError when a log has no epoch records (no finished epoch to draw).
    """
    from matplotlib.figure import Figure

    runs = {"": runs} if isinstance(runs, (str, os.PathLike)) else dict(runs)
    logs = {}
    for label, run in runs.items():
        epochs, intervals = read_log(run)
        if not epochs:
            raise ValueError(f"{run}: the log has no epoch records; curves need at least one finished epoch")
        logs[label] = (epochs, intervals)
    fig = Figure(figsize=(15, 4.5))
    loss_ax, err_ax, lr_ax = (fig.add_subplot(1, 3, i + 1) for i in range(3))
    colours = [f"C{i}" for i in range(10)]
    for i, (label, (epochs, intervals)) in enumerate(logs.items()):
        c, name = colours[i % 10], (f"{label} " if label else "")
        loss_ax.plot(*_numbers(intervals, "step", "loss"), lw=0.8, color=c, label=f"{name}training loss")
        err_ax.plot(*_numbers(epochs, "step", "train_top1_error"), marker="o", ms=3, color=c,
                    label=f"{name}train top-1")
        xs, ys = _numbers(epochs, "step", "val_top1_error")
        if xs:
            err_ax.plot(xs, ys, marker="s", ms=3, ls="--", color=c, label=f"{name}val top-1")
        lr_ax.plot(*_numbers(intervals or epochs, "step", "lr"), lw=1.0, color=c, label=f"{name}lr")
    for ax, what in ((loss_ax, "training loss (per logging interval)"), (err_ax, "top-1 error (per epoch)"),
                     (lr_ax, "learning rate")):
        ax.set_title(what, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    if any(ax.get_ylim()[0] > 0 for ax in (lr_ax,) if ax.lines):
        lr_ax.set_yscale("log")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.subplots_adjust(left=0.05, right=0.98, top=0.85, bottom=0.12, wspace=0.25)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return Path(out)
