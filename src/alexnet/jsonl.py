"""The one JSON-lines writer: every log of the package (training runs, prepare, evaluate, feature
extraction, experiments, benchmarks) is written through :class:`JsonlWriter`.

    with JsonlWriter(run_dir / "log.jsonl") as log:
        log.write("step", step=20, loss=2.1)

Each line is one JSON object ``{"time": ..., "event": ..., **fields}``; ``time`` is UTC in
ISO 8601 with milliseconds (``2026-12-01T22:38:01.123Z``). Lines are flushed as written, so a
killed process leaves every finished line readable. JSON has no NaN or infinity: such floats are
written as the strings ``"nan"``, ``"inf"``, ``"-inf"``.
"""

from __future__ import annotations

import errno
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .atomic import DiskFull


def utc_now() -> str:
    """Now, as the log's time stamps write it: ``2026-12-01T22:38:01.123Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class JsonlWriter:
    """Appends events to ``path`` (created with its folder). ``path=None`` or ``enabled=False``
    makes every call a no-op (rank ≠ 0 of a distributed run, a function called without a log)."""

    def __init__(self, path: str | os.PathLike | None, *, enabled: bool = True):
        self.path = Path(path) if path is not None else None
        self._file = None
        if self.path is not None and enabled:
            if self.path.parent.exists() and not self.path.parent.is_dir():
                raise NotADirectoryError(f"cannot write {self.path}: {self.path.parent} is a file, not a directory")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8", buffering=1)

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def write(self, event: str, **fields: Any) -> None:
        if self._file is None:
            return
        record = {"time": utc_now(), "event": event, **_clean(fields)}
        try:
            self._file.write(json.dumps(record, default=str) + "\n")
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise DiskFull(e.errno, f"{self.path}: a line of the log was not written: the disk is full; the lines "
                                    f"before it are intact. Free some space and run the command again") from e

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, in order; lines that are not whole objects (a line cut
    short by a kill) are skipped."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out
