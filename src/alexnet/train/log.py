"""What a run tells the world: ``log.jsonl``, TensorBoard events, a progress bar or log lines.

    logger = RunLogger(run_dir, enabled=ctx.is_main, total_steps=n)
    logger.event("step", step=10, epoch=0, loss=2.3, lr=0.01, images_per_s=412.0)
    logger.warning("the loss is at chance level ...")      # logged and printed, once
    logger.close()

``log.jsonl`` (written by :class:`alexnet.jsonl.JsonlWriter`: ``time`` and ``event`` on every line):

- ``start`` / ``resume``: ``step``, ``epoch``, ``device``, ``world_size``;
- ``step`` (every ``log_interval`` steps): ``step``, ``epoch``, ``loss`` (mean over the
  interval), ``train_top1_error`` (over the interval's training batches: augmented, dropout on),
  ``lr``, ``images_per_s`` (all ranks together);
- ``epoch``: ``epoch``, ``train_loss``, ``train_top1_error``, ``train_top5_error`` (on the
  augmented training batches, dropout on), ``val_top1_error``, ``val_top5_error``,
  ``val_loss``, ``lr``, ``seconds`` (training, without the validation), ``val_seconds``;
- ``lr_drop``, ``warning`` (``message``), ``nan``, ``interrupt``, ``end``.

Only rank 0 of a distributed run has an enabled logger: it alone writes the log and prints
progress and warnings. The progress bar (:class:`alexnet.progress.Progress`) shows on a terminal;
elsewhere each ``step`` event is printed as one line. TensorBoard events go to ``RUN_DIR/tensorboard`` when the
``tensorboard`` package is installed.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from ..jsonl import JsonlWriter
from ..progress import Progress

LOG_NAME = "log.jsonl"  # the JSONL log in a run directory


class RunLogger:
    def __init__(self, run_dir: str | Path, *, enabled: bool = True, total_steps: int = 0,
                 initial_step: int = 0, tensorboard: bool = True, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.run_dir = Path(run_dir)
        self._log = JsonlWriter(self.run_dir / LOG_NAME, enabled=enabled)
        self._bar = self._tb = None
        if not enabled:
            return
        # Off a terminal the step events are the progress lines (every log_interval steps).
        self._bar = Progress(total_steps, "train", unit="step", initial=initial_step, show=True,
                             interval_s=math.inf, stream=self.stream)
        self._tty = self._bar.is_bar
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    def event(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        self._log.write(event, **fields)
        step = fields.get("step")
        if self._tb is not None and step is not None:
            for key, value in fields.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)) and math.isfinite(value):
                    self._tb.add_scalar(f"{event}/{key}", value, step)
        if event == "step":
            text = (f"epoch {fields['epoch'] + 1} step {step}: loss {fields['loss']:.4f}  "
                    f"lr {fields['lr']:.3g}  {fields['images_per_s']:.0f} img/s")
            if self._tty:
                self._bar.update(0, loss=round(fields["loss"], 4), img_per_s=round(fields["images_per_s"]))
            else:
                print(text, file=self.stream, flush=True)
        elif event == "epoch":
            val = fields.get("val_top1_error")
            val_text = f"  val top-1/top-5 error {val:.4f}/{fields['val_top5_error']:.4f}" if val is not None else ""
            self.message(f"epoch {fields['epoch'] + 1}: train loss {fields['train_loss']:.4f}  "
                         f"train top-1 error {fields['train_top1_error']:.4f}{val_text}  "
                         f"({fields['seconds']:.0f} s)")

    def warning(self, text: str, **fields: Any) -> None:
        """A warning: one ``warning`` event in the log and one ``warning: …`` line, nothing else."""
        self.event("warning", message=text, **fields)
        self.message(f"warning: {text}")

    def advance(self, n: int = 1) -> None:
        if self.enabled and self._bar is not None:
            self._bar.update(n)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        self._bar.write(text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()
        self._log.close()
        self._bar = self._tb = None
        self.enabled = False


def read_run_log(path: str | Path) -> list[dict[str, Any]]:
    """The events of ``RUN_DIR/log.jsonl`` as the run's history is now: a run killed without a
    checkpoint (kill -9, a lost machine) logged steps that its resumption trained again, so at
    each ``resume`` event (at step s) the earlier ``step`` and ``epoch`` records after step s are
    dropped. Curves and experiment records read the log through this."""
    from ..jsonl import read_jsonl
    events: list[dict[str, Any]] = []
    for record in read_jsonl(path):
        if record.get("event") == "resume" and isinstance(record.get("step"), (int, float)):
            s = record["step"]
            events = [e for e in events if not (e.get("event") in ("step", "epoch")
                                                and isinstance(e.get("step"), (int, float)) and e["step"] > s)]
        events.append(record)
    return events

