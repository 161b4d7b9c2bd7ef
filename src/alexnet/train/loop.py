"""The training loop: one step as a function, a run as a :class:`Trainer`.

    from alexnet.train.loop import train_step, Trainer
    result = train_step(model, images, labels, optimizer, transform, amp_dtype=torch.bfloat16)
    result.loss                              # detached tensor, no device sync

    trainer = Trainer(cfg, run_dir, data)    # data: alexnet.train.data.TrainData
    summary = trainer.fit()                  # resumes if run_dir holds a checkpoint and resume=True

``train_step`` is what ``benchmarks/`` times: the same code path as a real run.

Exact resumption. A checkpoint is written atomically at the end of every epoch and when
SIGINT/SIGTERM arrives (the current step finishes first). It records the epoch and the
number of its batches already trained; StoreLoader's order is a function of (seed, epoch,
rank), so ``set_epoch(epoch, start_batch)`` replays the rest of the epoch. The random numbers of
step t on rank r (augmentation and dropout) come from generators re-seeded from (seed, r, t),
so a resumed run draws exactly what the uninterrupted run would have drawn.

The fast path. ``amp``, ``compile`` and ``channels_last`` left at "auto" are chosen for the device
and host by :func:`alexnet.device.choose_fast_path` (bf16 autocast on CUDA and on CPUs that
multiply bf16 in hardware, else float32; no torch.compile; channels-last on CUDA), each with its
reason: log.jsonl's ``start``/``resume`` event and the summary hold the record (``fast_path``),
checkpoint.pt keeps it, and a resumed run on the same kind of device keeps the choice it started
with (a checkpoint from before the choice existed: the rule it started under).

Stops and warnings. The loss is summed on the device and checked every ``log_interval``
steps and at the end of each epoch: a NaN/inf raises :class:`TrainingDiverged` and nothing
is saved over the last good checkpoint. A training loss still at chance level (≈ ln(num_classes))
over the last logging interval of the first epoch gives one warning that fits the net and
recipe (:func:`alexnet.recipes.chance_level_advice`); for alexnet2012 with the printed init (``model.init=paper``),
which measurably does not leave that plateau (docs/REPRODUCTION.md), the run stops there with
:class:`TrainingStalled`, saying what to set.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config
from ..device import Precision, choose_fast_path, fast_path_before_auto
from ..evaluate.metrics import topk_hits
from ..evaluate.run import evaluate_model
from ..models import create
from ..provenance import provenance
from ..recipes import chance_level_advice
from ..stop import request as request_stop_of_caller
from ..weights import WEIGHTS_NAME, save_weights
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .epochs import save_epoch_features
from .distributed import DistContext, all_reduce_sum, broadcast_floats
from .log import LOG_NAME, RunLogger
from .optim import build_optimizer
from .schedule import make_schedule


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says where and what to do."""


class TrainingStalled(RuntimeError):
    """The loss stayed at chance level through the first epoch with a setting known not to recover."""


@dataclass
class StepResult:
    """Detached tensors on the training device (reading them syncs the device)."""

    loss: torch.Tensor
    correct1: torch.Tensor
    correct5: torch.Tensor
    count: int


def train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
               optimizer: torch.optim.Optimizer, transform: Callable[..., torch.Tensor], *,
               generator: torch.Generator | None = None, amp_dtype: torch.dtype | None = None,
               channels_last: bool = False) -> StepResult:
    """One SGD step on a stored uint8 batch: augment, forward (autocast), cross-entropy, backward, step.

    ``transform(images, generator=generator)`` turns the uint8 (B, C, H, W) batch into the
    float input. ``amp_dtype``: ``torch.bfloat16`` for autocast (CUDA), None for float32.
    """
    precision = Precision(amp_dtype, channels_last)
    x = precision.prepare_input(transform(images, generator=generator))
    with precision.autocast_context(x.device.type):
        logits = model(x)
    # The loss in float32 even under bf16 autocast: log-softmax needs the precision.
    loss = F.cross_entropy(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        correct1, correct5 = topk_hits(logits, labels)
    return StepResult(loss.detach(), correct1, correct5, labels.shape[0])


def step_seed(seed: int, rank: int, step: int) -> int:
    """The seed of global step ``step`` on ``rank`` (distinct per rank and step, reproducible)."""
    return (int(seed) * 1_000_003 + rank * 10_007 + step * 7_919 + 1) % (2 ** 62)


def at_chance_level(train_loss: float, num_classes: int) -> bool:
    """True when ``train_loss`` is the loss of a uniform guess, ln(num_classes), within 3%."""
    chance = math.log(num_classes)
    return num_classes > 1 and abs(train_loss - chance) <= 0.03 * chance


def sums_dtype(device: torch.device) -> torch.dtype:
    """The epoch's running sums (loss, hits, images) in float64, kept on the device (no sync per
    step); float32 on Apple's MPS, which has no float64 (exact counts up to 2²⁴ images an epoch)."""
    return torch.float32 if device.type == "mps" else torch.float64


class Trainer:
    """A training run in ``run_dir``: config.json, log.jsonl, checkpoint.pt, model.safetensors.

    Args:
        cfg: a resolved config (:func:`alexnet.config.resolve_config`).
        run_dir: the run directory (created).
        data: :class:`alexnet.train.data.TrainData` (loaders, transforms, preprocessing).
        model: the net; built from ``cfg.arch``/``cfg.model`` when None.
        ctx: the distributed context (one process when None).
        resume: continue from ``run_dir/checkpoint.pt``.
        on_step: called as ``on_step(trainer, step)`` after every step (tests use it to
            interrupt or to inject a fault); ``trainer.request_stop(reason)`` stops like SIGINT.
    """

    def __init__(self, cfg: Config, run_dir: str | Path, data, *, model: nn.Module | None = None,
                 ctx: DistContext | None = None, resume: bool = False,
                 on_step: Callable[["Trainer", int], None] | None = None):
        self.cfg, self.run_dir, self.data = cfg, Path(run_dir), data
        self.ctx = ctx or DistContext()
        self.device = self.ctx.device
        self.on_step = on_step
        self.stop_reason: str | None = None
        self.last_step_lr = cfg.lr
        self.last_interval_loss: float | None = None
        if model is None:
            torch.manual_seed(cfg.seed)  # the initial weights are part of the run's reproducible state
            model = create(cfg.arch, **cfg.model)
        if getattr(model, "num_classes", data.num_classes) != data.num_classes:
            raise ValueError(f"the model has {model.num_classes} outputs but the data has {data.num_classes} "
                             f"classes; set model.num_classes={data.num_classes}")
        if cfg.freeze == "features":
            for p in model.features.parameters():
                p.requires_grad_(False)
        state = load_checkpoint(self.run_dir / CHECKPOINT_NAME, map_location=self.device) if resume else None
        # "auto" chosen for this device and host (a resumed run keeps what it started with)
        self.fast_path = choose_fast_path(self.device, cfg.amp, cfg.compile, cfg.channels_last,
                                          kept=None if state is None else
                                          state.get("fast_path") or fast_path_before_auto(self.device))
        self.precision = self.fast_path.precision
        self.model = self.precision.prepare_model(model.to(self.device))
        self.channels_last, self.amp_dtype = self.precision.channels_last, self.precision.autocast
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.optimizer = build_optimizer(self.model, cfg)
        self.schedule = make_schedule(cfg, self.optimizer, total_steps=cfg.epochs * self.batches_per_epoch())
        self.epoch, self.batch, self.step = 0, 0, 0
        self.epoch_sums = [0.0, 0.0, 0.0, 0.0]  # loss·n, top-1 hits, top-5 hits, n (this rank)
        self.history: list[dict[str, Any]] = []
        self.resumed = False
        if state is not None:
            self.load_state_dict(state)
            self.resumed = True
        self.train_model: nn.Module = self.model
        if self.ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel
            self.train_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if self.fast_path.compile:
            self.train_model = torch.compile(self.train_model)
        # On the CPU: alexnet.data.augment draws there and moves the numbers to the images, so a
        # seed gives the same augmentation on any device.
        self.generator = torch.Generator()

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "epoch": self.epoch, "batch": self.batch,
                "step": self.step, "epoch_sums": list(self.epoch_sums), "history": self.history,
                "config": self.cfg.to_dict(), "fast_path": self.fast_path.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.epoch, self.batch, self.step = int(state["epoch"]), int(state["batch"]), int(state["step"])
        self.epoch_sums = [float(v) for v in state["epoch_sums"]]
        self.history = list(state["history"])

    def save_checkpoint(self) -> None:
        if self.ctx.is_main:
            save_checkpoint(self.run_dir / CHECKPOINT_NAME, self.state_dict())

    def request_stop(self, reason: str) -> None:
        """Stop after the current step, save a checkpoint, return (what SIGINT/SIGTERM do)."""
        self.stop_reason = reason

    # -- the run -------------------------------------------------------------------------------
    def batches_per_epoch(self) -> int:
        n = len(self.data.train_loader)
        cap = self.cfg.max_steps_per_epoch
        return min(n, cap) if cap else n

    def fit(self) -> dict[str, Any]:
        """Train to ``cfg.epochs``; returns a summary (``status``: "done" or "interrupted")."""
        cfg = self.cfg
        per_epoch = self.batches_per_epoch()
        if per_epoch < 1:
            raise ValueError(f"the training set gives no full batch of {self.data.per_rank_batch} images "
                             f"per rank; lower --batch-size")
        logger = RunLogger(self.run_dir, enabled=self.ctx.is_main, total_steps=cfg.epochs * per_epoch,
                           initial_step=self.epoch * per_epoch + self.batch)
        self.logger = logger
        logger.event("resume" if self.resumed else "start", step=self.step, epoch=self.epoch,
                     batch=self.batch, device=str(self.device), world_size=self.ctx.world_size,
                     per_rank_batch=self.data.per_rank_batch, batches_per_epoch=per_epoch,
                     data=self.data.description, amp=str(self.amp_dtype), channels_last=self.channels_last,
                     fast_path=self.fast_path.to_dict(), provenance=provenance(self.device))
        logger.message(f"fast path: {self.fast_path.describe()} (why: the {'resume' if self.resumed else 'start'} "
                       f"event's fast_path.reason in {LOG_NAME})")
        previous = self._install_signal_handlers()
        try:
            while self.epoch < cfg.epochs:
                if not self._train_epoch(per_epoch):
                    self.save_checkpoint()
                    logger.event("interrupt", step=self.step, epoch=self.epoch, batch=self.batch,
                                 reason=self.stop_reason)
                    logger.message(f"stopped ({self.stop_reason}) at epoch {self.epoch + 1}, batch {self.batch}; "
                                   f"checkpoint saved. Resume with: alexnet train --resume {self.run_dir}")
                    return {"status": "interrupted", "step": self.step, "epoch": self.epoch,
                            "batch": self.batch, "history": self.history, "fast_path": self.fast_path.to_dict()}
            if self.stop_reason:   # it came in the last step: the run is done, what called it must stop
                request_stop_of_caller(self.stop_reason)
            metrics = self.history[-1] if self.history else {}
            if self.ctx.is_main:
                self.save_weights(metrics)
            logger.event("end", step=self.step, epoch=self.epoch, **{k: v for k, v in metrics.items()
                                                                     if k not in ("epoch", "step")})
            return {"status": "done", "step": self.step, "epoch": self.epoch, "history": self.history,
                    "weights": str(self.run_dir / WEIGHTS_NAME), "fast_path": self.fast_path.to_dict()}
        finally:
            self._restore_signal_handlers(previous)
            logger.close()

    def _train_epoch(self, per_epoch: int) -> bool:
        """Train the rest of the current epoch; False if a stop was requested."""
        cfg, ctx, logger = self.cfg, self.ctx, self.logger
        loader = self.data.train_loader
        loader.set_epoch(self.epoch, start_batch=self.batch)
        self.model.train()
        acc = sums_dtype(self.device)
        sums = torch.tensor(self.epoch_sums, dtype=acc, device=self.device)
        interval_loss = torch.zeros((), dtype=acc, device=self.device)
        interval_hits = torch.zeros((), dtype=acc, device=self.device)   # top-1 hits (this rank)
        interval_steps, interval_images, t_interval, t_epoch = 0, 0, time.perf_counter(), time.perf_counter()
        for images, labels in (loader if self.batch < per_epoch else ()):
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            seed = step_seed(cfg.seed, ctx.rank, self.step)
            self.generator.manual_seed(seed)
            torch.manual_seed(seed)  # dropout draws from the default generators
            result = train_step(self.train_model, images, labels, self.optimizer, self.data.train_transform,
                                generator=self.generator, amp_dtype=self.amp_dtype,
                                channels_last=self.channels_last)
            self.last_step_lr = self.optimizer.param_groups[0]["lr"]   # the rate this step ran at
            self.schedule.step_end()
            sums += torch.stack([result.loss.to(acc) * result.count, result.correct1.to(acc),
                                 result.correct5.to(acc), torch.tensor(float(result.count), device=self.device,
                                                                        dtype=acc)])
            interval_loss += result.loss.to(acc)
            interval_hits += result.correct1.to(acc)
            interval_steps += 1
            interval_images += result.count
            self.step += 1
            self.batch += 1
            logger.advance()
            if self.on_step is not None:
                self.on_step(self, self.step)
            # Single process: a requested stop is seen at once. DDP: all ranks decide together
            # at interval boundaries (one small all-reduce), so none waits forever on the others.
            check_now = self.step % cfg.log_interval == 0 or self.batch >= per_epoch
            if (self.stop_reason and not ctx.distributed) or check_now:
                flags = torch.stack([interval_loss, torch.tensor(float(interval_steps), dtype=acc,
                                                                 device=self.device),
                                     torch.tensor(1.0 if self.stop_reason else 0.0, dtype=acc,
                                                  device=self.device),
                                     interval_hits, torch.tensor(float(interval_images), dtype=acc,
                                                                 device=self.device)])
                flags = all_reduce_sum(ctx, flags).tolist()
                mean_loss = flags[0] / max(flags[1], 1.0)
                if not math.isfinite(mean_loss):
                    self._diverged(mean_loss)
                if check_now:
                    self.last_interval_loss = mean_loss
                    elapsed = time.perf_counter() - t_interval
                    lr = self.last_step_lr
                    logger.event("step", step=self.step, epoch=self.epoch, loss=mean_loss,
                                 train_top1_error=1.0 - flags[3] / max(flags[4], 1.0), lr=lr,
                                 images_per_s=flags[4] / max(elapsed, 1e-9))
                    interval_loss.zero_()
                    interval_hits.zero_()
                    interval_steps, interval_images, t_interval = 0, 0, time.perf_counter()
                if flags[2] > 0:
                    self.stop_reason = self.stop_reason or "another rank was stopped"
                    self.epoch_sums = sums.tolist()
                    return False
            if self.batch >= per_epoch:
                break
        self.epoch_sums = sums.tolist()
        self._end_epoch(time.perf_counter() - t_epoch)
        return True

    def _diverged(self, value: float) -> None:
        ckpt = self.run_dir / CHECKPOINT_NAME
        last = (f"the last good checkpoint is {ckpt} (kept unchanged); resume from it with "
                f"`alexnet train --resume {self.run_dir} --lr SMALLER`" if ckpt.exists()
                else "no checkpoint was written yet (it diverged in the first epoch)")
        lr = self.last_step_lr   # the last step's rate (warm-up, linear decay), not the recipe's
        msg = (f"the training loss became {value} at step {self.step} (epoch {self.epoch + 1}) with lr "
               f"{lr:g}; stopping. {last}. A smaller learning rate usually helps.")
        self.logger.event("nan", step=self.step, epoch=self.epoch, loss=value, lr=lr)
        raise TrainingDiverged(msg)

    def _end_epoch(self, seconds: float) -> None:
        ctx, cfg = self.ctx, self.cfg
        sums = all_reduce_sum(ctx, torch.tensor(self.epoch_sums, dtype=sums_dtype(self.device),
                                                device=self.device)).tolist()
        n = max(sums[3], 1.0)
        record: dict[str, Any] = {"epoch": self.epoch, "step": self.step, "train_loss": sums[0] / n,
                                  "train_top1_error": 1.0 - sums[1] / n, "train_top5_error": 1.0 - sums[2] / n,
                                  "lr": self.last_step_lr, "seconds": seconds}   # the last step's
        if not math.isfinite(record["train_loss"]):
            self._diverged(record["train_loss"])
        val = None
        # Every rank takes part (the broadcast), though only rank 0 has a validation loader.
        if self.data.val_store is not None and ((self.epoch + 1) % cfg.eval_every == 0
                                                 or self.epoch + 1 == cfg.epochs):
            values = [math.nan] * 5
            if ctx.is_main:
                t_val = time.perf_counter()
                m = evaluate_model(self.model, self.data.val_loader, self.data.view_fn, device=self.device,
                                   precision=self.precision, progress=False)
                values = [m["top1_error"], m["top5_error"], m["loss"], m["num_images"], time.perf_counter() - t_val]
            values = broadcast_floats(ctx, values)
            val = values[0]
            record.update(val_top1_error=values[0], val_top5_error=values[1], val_loss=values[2],
                          val_images=int(values[3]), val_seconds=values[4])
        self.history.append(record)
        self.logger.event("epoch", **record)
        stalled = None
        # The loss at the end of the epoch, not its mean: the first steps' transient is no sign.
        if self.epoch == 0 and self.last_interval_loss is not None \
                and at_chance_level(self.last_interval_loss, self.data.num_classes):
            text, stop = chance_level_advice(cfg, self.last_interval_loss, self.data.num_classes,
                                             step_lr=self.last_step_lr)
            self.logger.warning(text, step=self.step, epoch=self.epoch)
            stalled = text if stop and self.epoch + 1 < cfg.epochs else None
        if self.schedule.epoch_end(self.epoch, val):
            self.logger.event("lr_drop", step=self.step, epoch=self.epoch, lr=self.schedule.lr)
            self.logger.message(f"learning rate now {self.schedule.lr:g}")
        self.epoch += 1
        self.batch = 0
        self.epoch_sums = [0.0, 0.0, 0.0, 0.0]
        self.save_checkpoint()
        if cfg.keep_epoch_weights and ctx.is_main:
            save_epoch_features(self.run_dir, self.model, self.epoch)   # epoch-001 = after the first epoch
        if stalled:
            self.logger.event("stalled", step=self.step, epoch=self.epoch - 1, message=stalled)
            raise TrainingStalled(f"stopped after epoch 1: {stalled}")

    def save_weights(self, metrics: dict[str, Any]) -> Path:
        return save_weights(self.run_dir / WEIGHTS_NAME, self.model, class_names=self.data.class_names,
                            preprocessing=self.data.preprocessing.to_dict(), config=self.cfg.to_dict(),
                            metrics=metrics, extra_tensors=self.data.extra_tensors)

    # -- signals -------------------------------------------------------------------------------
    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return None
        previous = {}

        def handler(signum, frame):
            name = signal.Signals(signum).name
            if self.stop_reason:  # a second signal: the user means it
                raise KeyboardInterrupt
            self.logger.message(f"{name} received: finishing this step and saving a checkpoint "
                                f"(send it again to quit without saving)")
            self.request_stop(name)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        return previous

    @staticmethod
    def _restore_signal_handlers(previous) -> None:
        for sig, old in (previous or {}).items():
            signal.signal(sig, old)
