"""One writer per directory: a run directory, a prepared store.

    with exclusive(run_dir, "alexnet train"):      # raises Busy if another process holds it
        ...write into run_dir...

The lock is ``DIR/.lock``, taken with ``flock`` (released by the kernel when the process ends,
so a killed run leaves no stale lock behind). The holder writes its pid and command line into
the file, and a second process is told who holds it, not which temp file it tripped over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".lock"


class Busy(ValueError):
    """Another process is writing the directory (a ValueError: the CLI prints it as one line)."""


def holder(path: Path) -> str:
    """Who holds the lock file ``path``, as written there ("pid 123: alexnet train ...")."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"


@contextlib.contextmanager
def exclusive(directory: str | os.PathLike, what: str, advice: str = "") -> Iterator[None]:
    """Hold ``DIRECTORY/.lock`` while the block runs; :class:`Busy` at once if another process does.
    ``what``: the command, for the message; ``advice``: what the second user should do instead."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} is a file, not a directory: choose another output directory")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"{directory} is in use by {holder(path)}: two {what} runs into one directory would overwrite "
                       f"each other. {advice or 'Wait for it to finish or choose another directory.'}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(['alexnet'] + sys.argv[1:])}\n".encode())
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
