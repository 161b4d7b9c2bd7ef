"""The one progress mechanism of every long job (training, evaluation, prepare, features,
experiments, benchmarks, explain, serve): a bar on a terminal, one line per interval elsewhere,
only on rank 0 of a torchrun job, and a JSONL ``progress`` record per interval where the job
keeps a log. It is the only module of the package that imports tqdm.

    with Progress(total=len(paths), desc="fc7 features", unit="img", log=writer) as bar:
        for batch in batches:
            ...
            bar.update(len(batch), failed=n_failed)      # extra fields go to the line and the log
        bar.write("a message that must not break the bar")

``show``: ``None`` (default) shows progress when this process is rank 0 (``RANK`` unset or 0);
``False`` silences it (a library call, a test); ``True`` forces it. On a terminal the bar is
tqdm's; elsewhere (a log file, CI, a pipe) one line ``DESC: DONE/TOTAL UNIT (R UNIT/s) k=v …``
is printed every ``interval_s`` seconds and once at the end. ``log``: a
:class:`alexnet.jsonl.JsonlWriter` that receives a ``progress`` record (``desc``, ``done``,
``total``, ``per_s``, ``elapsed_s`` and the extra fields) at the same intervals and at the end.
``extra``: a function returning more fields, called only when a line or record is written (for
numbers whose reading costs a device sync, as a running error).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, TextIO

from tqdm import tqdm

from .jsonl import JsonlWriter


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or a process that is not part of one."""
    return os.environ.get("RANK", "0") in ("", "0")


def is_terminal(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


class Progress:
    """Progress of one pass over ``total`` things (``None``: unknown)."""

    def __init__(self, total: int | None = None, desc: str = "", *, unit: str = "it", initial: int = 0,
                 show: bool | None = None, log: JsonlWriter | None = None, interval_s: float = 10.0,
                 stream: TextIO | None = None, leave: bool = True,
                 extra: Callable[[], dict[str, Any]] | None = None):
        self.total, self.desc, self.unit = total, desc, unit
        self.done = initial
        self.stream = stream or sys.stderr
        self.show = is_main_process() if show is None else show
        self.log = log if (log is not None and is_main_process()) else None
        self.interval_s = interval_s
        self.extra = extra      # fields computed only when a line or record is written (a device sync)
        self.fields: dict[str, Any] = {}
        self._started = self._last = time.monotonic()
        self._initial = initial
        self._bar = None
        if self.show and is_terminal(self.stream):
            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.stream,
                             dynamic_ncols=True, leave=leave, smoothing=0.1)
        self._closed = False

    @property
    def is_bar(self) -> bool:
        """Whether a bar is drawn (a terminal); else progress is written as lines."""
        return self._bar is not None

    # -- reporting -------------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    @property
    def rate(self) -> float | None:
        elapsed = self.elapsed_s
        return (self.done - self._initial) / elapsed if elapsed > 0 else None

    def line(self) -> str:
        """The one-line form: ``DESC: DONE/TOTAL UNIT (R UNIT/s) k=v …``."""
        total = f"/{self.total}" if self.total is not None else ""
        rate = self.rate
        rate_text = f" ({rate:.1f} {self.unit}/s)" if rate is not None else ""
        extra = "".join(f" {k}={_short(v)}" for k, v in self.fields.items())
        return f"{self.desc}: {self.done}{total} {self.unit}{rate_text}{extra}"

    def _emit(self) -> None:
        self._last = time.monotonic()
        if self.extra is not None and self.done > self._initial:
            self.fields.update(self.extra())
        if self.show and self._bar is None:
            print(self.line(), file=self.stream, flush=True)
        if self.log is not None:
            rate = self.rate
            self.log.write("progress", desc=self.desc, done=self.done, total=self.total,
                           per_s=round(rate, 3) if rate is not None else None,
                           elapsed_s=round(self.elapsed_s, 3), **self.fields)

    def update(self, n: int = 1, **fields: Any) -> None:
        """``n`` more things done; ``fields`` (e.g. ``loss=2.3``) shown beside the count and logged."""
        self.done += n
        self.fields.update(fields)
        if self._bar is not None:
            self._bar.update(n)
            if fields:
                self._bar.set_postfix_str(" ".join(f"{k}={_short(v)}" for k, v in self.fields.items()),
                                          refresh=False)
        if time.monotonic() - self._last >= self.interval_s:
            self._emit()

    def set(self, done: int, **fields: Any) -> None:
        """Set the count to ``done`` (for jobs that know their position rather than their step)."""
        self.update(done - self.done, **fields)

    def write(self, text: str) -> None:
        """Print a message without breaking the bar (rank 0 only, as the bar)."""
        if not self.show:
            return
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """The final line (and log record), then the bar closes. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._emit()
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
