"""Group commit: callers on the event loop queue items and wait; one writer writes them in batches.

    batches = GroupCommit(write, max_batch=256)   # write(items) -> per item: None, or what failed it
    await batches.submit(item)                    # returns once the batch holding ``item`` is written
    await batches.run(job)                        # a blocking job run by the writer between two batches

The writer is one asyncio task that runs only while there is work. It takes everything queued (at
most ``max_batch``), hands it to ``write`` in a worker thread and, while that runs, new items queue up
for the next batch: no timer, so a lone request waits for its own write only, and under load the batch
grows with the arrival rate. Jobs (the history's retention cleanup) run on the same writer, one after
each batch, so they never compete with a batch for the database's write lock.

Meant for one event loop at a time (the server's). Items queued from a loop that has since gone away
belonged to requests that went away with it; a submit from a new loop starts afresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger("gateway.history")

T = TypeVar("T")
R = TypeVar("R")

WriteBatch = Callable[[list[T]], Sequence[BaseException | None]]


class GroupCommit(Generic[T]):
    """Batches concurrent submits into calls of ``write``; see the module docstring."""

    def __init__(self, write: WriteBatch[T], max_batch: int):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._write = write
        self.max_batch = max_batch
        self._items: deque[tuple[T, asyncio.Future[None]]] = deque()
        self._jobs: deque[tuple[Callable[[], Any], asyncio.Future[Any]]] = deque()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # calls of write so far
        self.written = 0  # items write reported as written

    @property
    def queued(self) -> int:
        """Items waiting for a batch (not counting the one being written)."""
        return len(self._items)

    async def submit(self, item: T) -> None:
        """Return once ``item`` is written; raise what ``write`` reported for it."""
        await self._enqueue(self._items, item)

    async def run(self, job: Callable[[], R]) -> R:
        """Run the blocking ``job`` on the writer, between batches; its result or its exception."""
        return await self._enqueue(self._jobs, job)

    async def drain(self) -> None:
        """Wait until everything queued so far is written and every queued job has run."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    def _enqueue(self, queue: deque, payload: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if self._task is not None and self._task.get_loop() is not loop:
            self._items.clear()
            self._jobs.clear()
            self._task = None
        future = loop.create_future()
        queue.append((payload, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._work(), name="history-group-commit")
        return future

    async def _work(self) -> None:
        # Runs on the loop, so checking the queues and exiting cannot race with _enqueue: a submit after
        # the last check sees this task done and starts the next one.
        while self._items or self._jobs:
            if self._items:
                count = min(self.max_batch, len(self._items))
                await self._write_batch([self._items.popleft() for _ in range(count)])
            if self._jobs:
                job, future = self._jobs.popleft()
                if future.done():  # its caller stopped waiting (the cleanup task was cancelled): skip it
                    continue
                try:
                    result = await asyncio.get_running_loop().run_in_executor(None, job)
                except asyncio.CancelledError:
                    future.cancel()
                    raise
                except Exception as exc:
                    _settle(future, exc)
                else:
                    if not future.done():
                        future.set_result(result)

    async def _write_batch(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        items = [item for item, _ in batch]
        try:
            outcomes = list(await asyncio.get_running_loop().run_in_executor(None, self._write, items))
            if len(outcomes) != len(items):
                raise RuntimeError(f"write answered for {len(outcomes)} of {len(items)} items")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # write itself broke: none of the batch is known to be written
            log.error("writing a batch of %d history rows failed: %r", len(items), exc)
            outcomes = [exc] * len(items)
        self.batches += 1
        self.written += sum(outcome is None for outcome in outcomes)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)


def _settle(future: asyncio.Future[Any], outcome: BaseException | None) -> None:
    if future.done():  # its caller gave up waiting (a dropped connection); the item was still written
        return
    if outcome is None:
        future.set_result(None)
    else:
        future.set_exception(outcome)
