"""Learning-rate schedules, stepped once per epoch, and an optional linear warm-up per step.

    sched = make_schedule(cfg)
    for epoch in range(cfg.epochs):
        set_lr(optimizer, sched.lr)
        ...train one epoch, validate (or not: val_error None)...
        sched.epoch_end(epoch, val_top1_error)

Kinds:

- ``plateau`` (the paper): divide by ``1/factor`` when the validation error has not improved
  (by at least ``min_delta``) for ``patience`` epochs; at most ``max_drops`` times. Patience is
  counted in epochs even when validation runs only every few epochs (``eval_every``): a drop
  comes at the first validation at least ``patience`` epochs after the last improvement (or the
  last drop). Without validation data there is nothing to plateau on: :func:`check_schedule`
  refuses the run before it starts.
- ``step`` (torchvision): multiply by ``factor`` every ``step_epochs`` epochs.
- ``linear``: after the warm-up, down in a straight line to 0 at the run's last step, step by
  step (for runs too short to reach a plateau: the demo's few CPU epochs).
- ``constant``.

``warmup_steps`` (a recipe key, 0 by default): the rate grows linearly from lr/warmup_steps to lr
over the first steps of the run (:func:`warmup_factor`).

The state is a dict of numbers (``state_dict``/``load_state_dict``) so it goes into a
``weights_only`` checkpoint.
"""

from __future__ import annotations

import math
from typing import Any

from ..config import Config


class Schedule:
    """One object for the three kinds; ``lr`` is the rate for the next epoch."""

    def __init__(self, kind: str, lr: float, *, factor: float = 0.1, patience: int = 5,
                 min_delta: float = 0.0, max_drops: int = 3, step_epochs: int = 30):
        if kind not in ("plateau", "step", "linear", "constant"):
            raise ValueError(f"unknown schedule {kind!r}; use plateau, step, linear or constant")
        self.kind, self.base_lr, self.factor = kind, float(lr), float(factor)
        self.patience, self.min_delta, self.max_drops = int(patience), float(min_delta), int(max_drops)
        self.step_epochs = int(step_epochs)
        self.lr = float(lr)
        self.best = math.inf
        self.last_improvement = -1   # epoch of the last improvement or drop (-1: the start)
        self.drops = 0
        self.drop_epochs: list[int] = []

    def epoch_end(self, epoch: int, val_error: float | None = None) -> bool:
        """Record the end of ``epoch`` (0-based) and its validation error (None: not validated);
        True if the lr changed."""
        if self.kind == "step":
            new = self.base_lr * self.factor ** ((epoch + 1) // self.step_epochs)
            changed = not math.isclose(new, self.lr)
            self.lr = new
            if changed:
                self.drop_epochs.append(epoch)
            return changed
        if self.kind in ("constant", "linear") or val_error is None:
            return False
        if val_error < self.best - self.min_delta:
            self.best, self.last_improvement = val_error, epoch
            return False
        self.best = min(self.best, val_error)
        if epoch - self.last_improvement >= self.patience and self.drops < self.max_drops:
            self.lr *= self.factor
            self.drops += 1
            self.last_improvement = epoch
            self.drop_epochs.append(epoch)
            return True
        return False

    def lr_at(self, step: int, total_steps: int, warmup_steps: int = 0) -> float:
        """The rate of global step ``step`` (0-based) of a run of ``total_steps``: the epoch's rate,
        times the warm-up factor, or for ``linear`` the straight line from ``lr`` after the warm-up
        to 0 after the last step."""
        lr = self.lr
        if self.kind == "linear" and step >= warmup_steps:
            lr = self.base_lr * max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
        return lr * warmup_factor(step, warmup_steps)

    def rebase(self, lr: float, previous_lr: float) -> None:
        """A new rate chosen on resume (``--resume RUN --lr X``; ``previous_lr``: the run's lr until
        now): X from the next step on, with the drops still to come relative to it (step, plateau);
        ``linear`` runs its line down from X."""
        ratio = self.lr / previous_lr if previous_lr else 1.0    # the drops so far (step)
        self.lr = float(lr)
        self.base_lr = float(lr) / ratio if self.kind == "step" and ratio else float(lr)

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "best": self.best, "last_improvement": self.last_improvement, "drops": self.drops,
                "drop_epochs": list(self.drop_epochs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr, self.best = float(state["lr"]), float(state["best"])
        self.last_improvement, self.drops = int(state["last_improvement"]), int(state["drops"])
        self.drop_epochs = [int(e) for e in state["drop_epochs"]]


def make_schedule(cfg: Config) -> Schedule:
    return Schedule(cfg.schedule, cfg.lr, factor=cfg.lr_factor, patience=cfg.plateau_patience,
                    min_delta=cfg.plateau_min_delta, max_drops=cfg.max_lr_drops, step_epochs=cfg.step_epochs)


def check_schedule(cfg: Config, has_validation: bool, where: str) -> None:
    """Refuse a plateau schedule that could never drop: no validation split to watch."""
    if cfg.schedule == "plateau" and not has_validation:
        raise ValueError(
            f"the {cfg.recipe} recipe lowers the learning rate when the validation error stops improving, but "
            f"{where} has no validation split, so it would train {cfg.epochs} epochs at lr {cfg.lr:g}. Give it one "
            f"(`alexnet prepare SRC OUT --split val`, or val/ beside train/ in an ImageFolder), or choose another "
            f"schedule: --set schedule=step (÷10 every step_epochs={cfg.step_epochs}) or --set schedule=constant")


def warmup_factor(step: int, warmup_steps: int) -> float:
    """The fraction of the scheduled rate at global step ``step`` (0-based): (step+1)/warmup_steps
    during the warm-up, then 1."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return 1.0
    return (step + 1) / warmup_steps
