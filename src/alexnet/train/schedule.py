"""Learning-rate schedules, stepped once per epoch.

    sched = make_schedule(cfg)            # from a resolved config (see recipes.py)
    for epoch in range(cfg["epochs"]):
        set_lr(optimizer, sched.lr)
        ...train one epoch, validate...
        sched.epoch_end(epoch, val_top1_error)

Kinds:

- ``plateau`` (the paper): divide by ``1/factor`` when the validation error has not improved
  (by at least ``min_delta``) for ``patience`` epochs in a row; at most ``max_drops`` times.
  After a drop the count of bad epochs restarts.
- ``step`` (torchvision): multiply by ``factor`` every ``step_epochs`` epochs.
- ``constant``.

The state is a dict of numbers (``state_dict``/``load_state_dict``) so it goes into a
``weights_only`` checkpoint.
"""

from __future__ import annotations

import math
from typing import Any

import torch


class Schedule:
    """One object for the three kinds; ``lr`` is the rate for the next epoch."""

    def __init__(self, kind: str, lr: float, *, factor: float = 0.1, patience: int = 5,
                 min_delta: float = 0.0, max_drops: int = 3, step_epochs: int = 30):
        if kind not in ("plateau", "step", "constant"):
            raise ValueError(f"unknown schedule {kind!r}; use plateau, step or constant")
        self.kind, self.base_lr, self.factor = kind, float(lr), float(factor)
        self.patience, self.min_delta, self.max_drops = int(patience), float(min_delta), int(max_drops)
        self.step_epochs = int(step_epochs)
        self.lr = float(lr)
        self.best = math.inf
        self.bad_epochs = 0
        self.drops = 0
        self.drop_epochs: list[int] = []

    def epoch_end(self, epoch: int, val_error: float | None = None) -> bool:
        """Record the end of ``epoch`` (0-based) and its validation error; True if the lr changed."""
        if self.kind == "step":
            new = self.base_lr * self.factor ** ((epoch + 1) // self.step_epochs)
            changed = not math.isclose(new, self.lr)
            self.lr = new
            if changed:
                self.drop_epochs.append(epoch)
            return changed
        if self.kind == "constant" or val_error is None:
            return False
        if val_error < self.best - self.min_delta:
            self.best, self.bad_epochs = val_error, 0
            return False
        self.best = min(self.best, val_error)
        self.bad_epochs += 1
        if self.bad_epochs >= self.patience and self.drops < self.max_drops:
            self.lr *= self.factor
            self.drops += 1
            self.bad_epochs = 0
            self.drop_epochs.append(epoch)
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "best": self.best, "bad_epochs": self.bad_epochs, "drops": self.drops,
                "drop_epochs": list(self.drop_epochs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr, self.best = float(state["lr"]), float(state["best"])
        self.bad_epochs, self.drops = int(state["bad_epochs"]), int(state["drops"])
        self.drop_epochs = [int(e) for e in state["drop_epochs"]]


def make_schedule(cfg: dict[str, Any]) -> Schedule:
    return Schedule(cfg["schedule"], cfg["lr"], factor=cfg["lr_factor"], patience=cfg["plateau_patience"],
                    min_delta=cfg["plateau_min_delta"], max_drops=cfg["max_lr_drops"],
                    step_epochs=cfg["step_epochs"])


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
