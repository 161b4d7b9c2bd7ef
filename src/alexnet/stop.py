"""A stop request (SIGINT, SIGTERM) that every level of a command sees.

    from alexnet import stop
    with stop.sigterm_raises():        # the CLI wraps every command in this
        ...
    stop.request("SIGTERM")            # what a handler that stops gracefully records (the training loop's)
    stop.check("the experiment")       # raises Stopped if a stop was requested: call between units of work

Two kinds of handler meet here. The CLI makes SIGTERM behave like Ctrl-C: it raises
:class:`Stopped` (a ``KeyboardInterrupt``), so ``finally`` blocks run (worker pools are ended,
temp files removed, locks released) and the command exits with status 130 and one line, where
the default action would kill the process on the spot and leave its worker processes running.
A training run replaces it while it trains: the first signal finishes the step and saves a
checkpoint (:class:`alexnet.train.loop.Trainer`); when the signal came during the run's last
step, the run is complete and returns "done", and records the request here, so that what called
it (an experiment about to start its next run, the demo about to test) stops too: the signal
is not lost. Those callers call :func:`check` after each run.

For ``alexnet serve`` and any other long-lived loop: poll :func:`requested` (or call
:func:`check`) between requests, or install its own handlers and call :func:`request` from them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

_requested: str | None = None


class Stopped(KeyboardInterrupt):
    """A stop was requested (SIGTERM, or a signal a training run turned into a checkpoint)."""


def request(reason: str) -> None:
    """Record a stop request (the first one's reason is kept)."""
    global _requested
    _requested = _requested or reason


def requested() -> str | None:
    """The reason of the stop requested in this process ("SIGTERM", ...), or None."""
    return _requested


def clear() -> None:
    global _requested
    _requested = None


def check(what: str = "the command") -> None:
    """Raise :class:`Stopped` if a stop was requested (the request is then spent)."""
    reason = _requested
    if reason:
        clear()
        raise Stopped(f"{reason} received: {what} stopped; run the same command again to continue")


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Stopped` in this process (main thread only).
    Processes forked inside (worker pools) get the default action back, so ending a pool ends it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def handler(signum, frame):
        if _forward_in_children(owner, signum):   # a forked worker: die as SIGTERM says
            return
        request(signal.Signals(signum).name)
        raise Stopped(f"{signal.Signals(signum).name} received")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _forward_in_children(owner: int, signum: int) -> bool:
    """In a process forked from ``owner`` (a pool worker): die as the signal says; True if so."""
    if os.getpid() == owner:
        return False
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return True


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM only record a stop request (:func:`check` it at a
    safe point). For code that must not be interrupted half-way, such as starting a worker pool."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def handler(signum, frame):
        if _forward_in_children(owner, signum):
            return
        if _requested:   # a second signal: the user means it
            raise Stopped(f"{signal.Signals(signum).name} received again")
        request(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def deferred_iter(items: Iterable[T], what: str) -> Iterator[T]:
    """``items`` with signals deferred while each is produced and consumed: a stop request ends the
    loop between two items with :class:`Stopped` (``what`` says what stopped)."""
    with deferred():
        for item in items:
            check(what)
            yield item
        check(what)
