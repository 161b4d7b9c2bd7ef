"""Dynamic batching: requests that arrive within a few milliseconds share one forward pass.

    compute = Compute(max_pending=64)                       # one worker thread for every net
    batcher = Batcher(run, compute, max_batch=32, max_wait_s=0.005, queue_size=64)
    rows = await batcher.submit(key=1, images=[im1, im2], timeout_s=30)   # (2, D) tensor

``run(key, images) -> Tensor`` computes one row per image; jobs with the same ``key`` (the number
of views, a layer name) are concatenated into one call. The batcher waits at most ``max_wait_s``
after the first job of a batch for more, and never puts more than ``max_batch`` images in one
call (a single job larger than that runs alone). All computation runs on :class:`Compute`'s one
worker thread, off the event loop, one call at a time (torch's own threads use every core).

Back-pressure: :class:`Busy` is raised (HTTP 503) when ``queue_size`` jobs are already waiting,
and :class:`TimedOut` (HTTP 504) when a job has no answer within its timeout; a job that timed
out while still queued is dropped, never computed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

import torch


class Busy(Exception):
    """The queue is full: the client should retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: int = 1):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TimedOut(Exception):
    """No answer within the request's timeout."""


class Compute:
    """The one worker thread every forward pass runs on, with a bound on the calls waiting for it
    outside the batchers (feature maps, explanations)."""

    def __init__(self, max_pending: int = 64):
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="alexnet-net")
        self.max_pending = max_pending
        self.pending = 0

    async def run(self, fn: Callable[[], Any], timeout_s: float) -> Any:
        """Run ``fn()`` on the worker thread; :class:`Busy` when too many calls wait already."""
        if self.pending >= self.max_pending:
            raise Busy(f"the server is busy ({self.pending} computations waiting); retry shortly")
        self.pending += 1
        future = asyncio.get_running_loop().run_in_executor(self.executor, fn)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except asyncio.TimeoutError:
            raise TimedOut(f"no answer within {timeout_s:g} s") from None
        finally:
            self.pending -= 1

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Job:
    key: Hashable
    images: Sequence[Any]
    future: asyncio.Future = field(repr=False)


class Batcher:
    """Collects jobs into batches of up to ``max_batch`` images and runs them on ``compute``."""

    def __init__(self, run: Callable[[Hashable, list], torch.Tensor], compute: Compute, *, max_batch: int = 32,
                 max_wait_s: float = 0.005, queue_size: int = 64):
        if max_batch < 1 or queue_size < 1:
            raise ValueError(f"max_batch and queue_size must be at least 1, got {max_batch} and {queue_size}")
        self.run, self.compute = run, compute
        self.max_batch, self.max_wait_s, self.queue_size = max_batch, max_wait_s, queue_size
        self.batches = 0          # forward calls made (for /healthz and the benchmark)
        self.images = 0
        self._queue: asyncio.Queue[_Job] | None = None
        self._carry: _Job | None = None
        self._task: asyncio.Task | None = None

    # -- life -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.queue_size)
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop taking jobs; the ones still queued get :class:`Busy` (the server is shutting down)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        pending = [self._carry] if self._carry else []
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for job in pending:
            if not job.future.done():
                job.future.set_exception(Busy("the server is shutting down"))

    @property
    def waiting(self) -> int:
        return (self._queue.qsize() if self._queue else 0) + (self._carry is not None)

    # -- clients ----------------------------------------------------------------------------------
    async def submit(self, key: Hashable, images: Sequence[Any], timeout_s: float) -> torch.Tensor:
        """One row per image of ``images``, computed in a batch with other jobs of the same ``key``."""
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not called")
        job = _Job(key, images, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise Busy(f"the server is busy ({self.queue_size} requests queued); retry shortly") from None
        try:
            return await asyncio.wait_for(job.future, timeout_s)
        except asyncio.TimeoutError:
            raise TimedOut(f"no answer within {timeout_s:g} s (the server is overloaded)") from None

    # -- the worker -------------------------------------------------------------------------------
    async def _next(self, timeout_s: float | None) -> _Job | None:
        if self._carry is not None:
            job, self._carry = self._carry, None
            return job
        if timeout_s is None:
            return await self._queue.get()
        try:
            return await asyncio.wait_for(self._queue.get(), max(timeout_s, 0))
        except asyncio.TimeoutError:
            return None

    async def _collect(self) -> list[_Job]:
        """The next batch: the first job, then whatever arrives within ``max_wait_s`` that fits."""
        loop = asyncio.get_running_loop()
        first = await self._next(None)
        batch, size = [first], len(first.images)
        deadline = loop.time() + self.max_wait_s
        while size < self.max_batch:
            job = await self._next(deadline - loop.time())
            if job is None:
                break
            if size + len(job.images) > self.max_batch:
                self._carry = job  # first in the next batch
                break
            batch.append(job)
            size += len(job.images)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [job for job in await self._collect() if not job.future.done()]  # timed out: dropped
            groups: dict[Hashable, list[_Job]] = {}
            for job in batch:
                groups.setdefault(job.key, []).append(job)
            for key, jobs in groups.items():
                images = [im for job in jobs for im in job.images]
                try:
                    rows = await loop.run_in_executor(self.compute.executor, self.run, key, images)
                except Exception as e:  # the net failed: every job of this batch hears why
                    for job in jobs:
                        if not job.future.done():
                            job.future.set_exception(e)
                    continue
                self.batches += 1
                self.images += len(images)
                start = 0
                for job in jobs:
                    if not job.future.done():
                        job.future.set_result(rows[start:start + len(job.images)])
                    start += len(job.images)
