"""Background work after ``ack()``: a bounded pool of workers over a queue.

Listeners acknowledge Slack at once and :meth:`BackgroundWork.submit` the rest.
A fixed number of workers keeps the event loop responsive under bursts (acks
never wait behind hundreds of runnable answers); the queue absorbs the burst.
Every job is tracked: :meth:`BackgroundWork.aclose` lets queued and running jobs
finish (up to a deadline) before the process exits, then cancels what is left.

Priorities, checked before each job starts (a running job is never interrupted):

1. acks: while Slack requests are being acknowledged (:class:`AckGate`), jobs wait
   for a lull, at most ``AckGate.max_wait_s``, so a burst of events is acknowledged
   about as fast as by an app that does nothing else, and a steady stream never
   starves the jobs;
2. a pool may *yield to* another: it waits until the other has nothing queued or
   running. The Slack answers pool yields to the intake pool, so placeholders and
   modals (quick, and time-bound by Slack) go before investigations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class AckGate:
    """Counts requests being acknowledged; background jobs wait (bounded) for a lull.

    A lull is no request in flight for ``settle_s``: under a burst the count touches
    zero between requests, and starting every queued job at such an instant would
    stall the requests right behind it.
    """

    def __init__(
        self,
        *,
        settle_s: float = 0.05,
        max_wait_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settle_s = settle_s
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._active = 0
        self._last = -settle_s
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def acking(self) -> Iterator[None]:
        """Mark a request as being acknowledged for the ``with`` block."""
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            self._last = self._clock()
            if self._active == 0:
                self._idle.set()

    async def quiet(self) -> None:
        """Return after a lull, or after ``max_wait_s`` at most."""
        deadline = self._clock() + self.max_wait_s
        while True:
            now = self._clock()
            calm_for = now - self._last
            if (not self._active and calm_for >= self.settle_s) or now >= deadline:
                return
            if self._active:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), deadline - now)
            else:
                await asyncio.sleep(min(deadline - now, self.settle_s - calm_for))


class BackgroundWork:
    """A queue of jobs and ``workers`` tasks running them."""

    def __init__(
        self,
        *,
        workers: int = 16,
        name: str = "slack",
        yield_to: BackgroundWork | None = None,
        gate: AckGate | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._size = workers
        self._name = name
        self._yield_to = yield_to
        self._gate = gate
        self._queue: asyncio.Queue[tuple[str, Job]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._closing = False
        self.completed = 0
        self.failed = 0

    @property
    def pending(self) -> int:
        """Jobs queued and not yet started."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the workers (inside the running event loop)."""
        if self._workers:
            return
        self._workers = [
            asyncio.create_task(self._run(), name=f"{self._name}-worker-{i}")
            for i in range(self._size)
        ]

    def submit(self, job: Job, *, label: str) -> None:
        """Queue ``job``; ``label`` names it in logs (never put payloads or tokens in it)."""
        if self._closing:
            logger.warning("shutting down: dropped %s", label)
            return
        if not self._workers:
            self.start()
        self._queue.put_nowait((label, job))

    async def drain(self) -> None:
        """Wait until every job submitted so far has finished."""
        await self._queue.join()

    async def aclose(self, *, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Stop taking jobs, let the queued ones finish (up to ``timeout``), stop workers."""
        self._closing = True
        if self._workers:
            try:
                await asyncio.wait_for(self._queue.join(), timeout)
            except TimeoutError:
                logger.warning(
                    "%d background jobs still pending after %.0fs; cancelling them",
                    self._queue.qsize(),
                    timeout,
                )
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    async def _run(self) -> None:
        while True:
            label, job = await self._queue.get()
            try:
                if self._gate is not None:
                    await self._gate.quiet()
                if self._yield_to is not None:
                    await self._yield_to.drain()
                await job()
                self.completed += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # boundary: one failed job must not stop the worker
                self.failed += 1
                logger.exception("background job %s failed", label)
            finally:
                self._queue.task_done()
