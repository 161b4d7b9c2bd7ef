"""Learning-rate schedules, on ``torch.optim.lr_scheduler`` where it expresses the rule.

    schedule = make_schedule(cfg, optimizer, total_steps)   # sets the rate of the first step
    ... optimizer.step(); schedule.step_end()               # after every training step
    changed = schedule.epoch_end(epoch, val_top1_error)     # after every epoch (None: not validated)
    schedule.lr                                             # the rate the next step runs at

Kinds (``cfg.schedule``):

- ``plateau`` (the paper): divide by ``1/factor`` when the validation error has not improved
  (by at least ``min_delta``) for ``patience`` epochs; at most ``max_drops`` times. Ours, not
  ``ReduceLROnPlateau``, which cannot say the same thing: it counts patience in validations, not
  epochs (the recipe validates every ``eval_every`` epochs and counts epochs: a drop comes at the
  first validation at least ``patience`` epochs after the last improvement or drop), and it has no
  cap on the number of drops (the paper's "three times in all"). Like torch's, a drop multiplies
  every group's rate by ``factor``. Without validation data there is nothing to plateau on:
  :func:`check_schedule` refuses the run before it starts.
- ``step`` (torchvision): ``StepLR(step_size=step_epochs, gamma=factor)``, stepped once per epoch.
- ``linear``: after the warm-up, ``LinearLR`` from the rate down to 0 at the run's last step, step
  by step (for runs too short to reach a plateau: the demo's few CPU epochs).
- ``constant``.

``warmup_steps`` (0 by default): ``LinearLR`` from 1/warmup_steps to 1 over the first steps, so
global step ``s`` (0-based) runs at (s+1)/warmup_steps of the scheduled rate; joined to ``linear``
by ``SequentialLR``. torch's schedulers act on each param group's own rate (the biases' group at
``lr × bias_lr_mult``), multiplicatively, so the rules compose; the rates equal the closed forms to
float rounding (``tests/test_train_recipes.py`` checks every step against them).

The state (``state_dict``/``load_state_dict``) is numbers only, so it goes into a ``weights_only``
checkpoint; a resumed run continues with exactly the rates of an uninterrupted one.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LinearLR, LRScheduler, SequentialLR, StepLR

from ..config import Config

KINDS = ("plateau", "step", "linear", "constant")


class Schedule:
    """The rate of every step of a run on ``optimizer`` (``total_steps`` steps in all)."""

    def __init__(self, optimizer: torch.optim.Optimizer, kind: str, *, total_steps: int, warmup_steps: int = 0,
                 factor: float = 0.1, patience: int = 5, min_delta: float = 0.0, max_drops: int = 3,
                 step_epochs: int = 30):
        if kind not in KINDS:
            raise ValueError(f"unknown schedule {kind!r}; use {', '.join(KINDS)}")
        self.optimizer, self.kind, self.factor = optimizer, kind, float(factor)
        self.patience, self.min_delta, self.max_drops = int(patience), float(min_delta), int(max_drops)
        self.best = math.inf
        self.last_improvement = -1   # epoch of the last improvement or drop (-1: the start)
        self.drops = 0
        self.drop_epochs: list[int] = []
        self.per_epoch = StepLR(optimizer, step_size=step_epochs, gamma=factor) if kind == "step" else None
        self.per_step = _per_step(optimizer, kind, warmup_steps, total_steps)

    @property
    def lr(self) -> float:
        """The rate of the next step (the weights' group; biases run at it × their ``lr_mult``)."""
        group = self.optimizer.param_groups[0]
        return group["lr"] / group.get("lr_mult", 1.0)

    def step_end(self) -> None:
        """After each optimizer step: the next step's rate (warm-up, linear decay)."""
        if self.per_step is not None:
            self.per_step.step()

    def epoch_end(self, epoch: int, val_error: float | None = None) -> bool:
        """Record the end of ``epoch`` (0-based) and its validation error (None: not validated);
        True if the rate dropped."""
        before = self.lr
        if self.per_epoch is not None:
            self.per_epoch.step()
        elif self.kind == "plateau" and val_error is not None:
            self._plateau(epoch, val_error)
        changed = not math.isclose(self.lr, before)
        if changed and self.kind == "step":
            self.drop_epochs.append(epoch)
        return changed

    def _plateau(self, epoch: int, val_error: float) -> None:
        if val_error < self.best - self.min_delta:
            self.best, self.last_improvement = val_error, epoch
            return
        self.best = min(self.best, val_error)
        if epoch - self.last_improvement >= self.patience and self.drops < self.max_drops:
            self._scale(self.factor, base_too=False)
            self.drops += 1
            self.last_improvement = epoch
            self.drop_epochs.append(epoch)

    def rebase(self, lr: float, previous_lr: float) -> None:
        """A new rate chosen on resume (``--resume RUN --lr X``; ``previous_lr``: the run's configured
        rate until now): the next step runs at X, the drops still to come are relative to it (step,
        plateau); ``linear`` runs its line down from X, as if X had been the rate from the start."""
        ratio = lr / previous_lr if self.kind == "linear" else lr / self.lr
        self._scale(ratio, base_too=True)

    def _scale(self, ratio: float, *, base_too: bool) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] *= ratio
            if base_too and "initial_lr" in group:
                group["initial_lr"] *= ratio
        if base_too:
            for scheduler in _schedulers(self.per_epoch, self.per_step):
                scheduler.base_lrs = [b * ratio for b in scheduler.base_lrs]
                scheduler._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "last_improvement": self.last_improvement, "drops": self.drops,
                "drop_epochs": list(self.drop_epochs),
                "per_epoch": None if self.per_epoch is None else self.per_epoch.state_dict(),
                "per_step": None if self.per_step is None else self.per_step.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore after the optimizer's own state (which holds the rates themselves)."""
        self.best = float(state["best"])
        self.last_improvement, self.drops = int(state["last_improvement"]), int(state["drops"])
        self.drop_epochs = [int(e) for e in state["drop_epochs"]]
        for name in ("per_epoch", "per_step"):
            scheduler = getattr(self, name)
            if scheduler is not None and state.get(name) is not None:
                scheduler.load_state_dict(state[name])


def _per_step(optimizer: torch.optim.Optimizer, kind: str, warmup_steps: int,
              total_steps: int) -> LRScheduler | None:
    """The warm-up and, for ``linear``, the decay: schedulers stepped after every step."""
    warmup = None
    if warmup_steps > 1:
        warmup = LinearLR(optimizer, start_factor=1.0 / warmup_steps, end_factor=1.0, total_iters=warmup_steps - 1)
    if kind != "linear":
        return warmup
    decay = LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=max(1, total_steps - warmup_steps))
    if warmup is None:
        return decay
    return SequentialLR(optimizer, [warmup, decay], milestones=[warmup_steps])


def _schedulers(*schedulers: LRScheduler | None) -> list[LRScheduler]:
    out = []
    for s in schedulers:
        if isinstance(s, SequentialLR):
            out += [s, *s._schedulers]
        elif s is not None:
            out.append(s)
    return out


def make_schedule(cfg: Config, optimizer: torch.optim.Optimizer, total_steps: int) -> Schedule:
    return Schedule(optimizer, cfg.schedule, total_steps=total_steps, warmup_steps=cfg.warmup_steps,
                    factor=cfg.lr_factor, patience=cfg.plateau_patience, min_delta=cfg.plateau_min_delta,
                    max_drops=cfg.max_lr_drops, step_epochs=cfg.step_epochs)


def check_schedule(cfg: Config, has_validation: bool, where: str) -> None:
    """Refuse a plateau schedule that could never drop: no validation split to watch."""
    if cfg.schedule == "plateau" and not has_validation:
        raise ValueError(
            f"the {cfg.recipe} recipe lowers the learning rate when the validation error stops improving, but "
            f"{where} has no validation split, so it would train {cfg.epochs} epochs at lr {cfg.lr:g}. Give it one "
            f"(`alexnet prepare SRC OUT --split val`, or val/ beside train/ in an ImageFolder), or choose another "
            f"schedule: --set schedule=step (÷10 every step_epochs={cfg.step_epochs}) or --set schedule=constant")
