"""Dynamic micro-batching: concurrent requests share one forward pass.

One ``MicroBatcher`` per model owns a single worker thread. Requests queue on the event loop; the
batcher takes the first waiting item, gathers more until ``max_batch_size`` is reached or
``max_delay_s`` has passed since that first item *arrived* (so an item that already waited behind a
running batch is not held back again), and runs the batch function off the event loop.
While a batch runs, new requests keep queueing, so batches grow with load (Triton's dynamic batcher
works the same way).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    queued_at: float = field(default_factory=time.monotonic)


class BatchSizeMismatch(RuntimeError):
    """predict_batch returned a different number of results than it was given.

    Outside the TribunalError tree: a detector's bug, which /predict answers as ``InferenceFailed``."""


class MicroBatcher(Generic[T, R]):
    """Collects single items into batches for ``batch_fn`` and hands each caller its own result."""

    def __init__(
        self,
        batch_fn: Callable[[list[T]], list[R]],
        *,
        max_batch_size: int,
        max_delay_s: float,
        executor: ThreadPoolExecutor,
        on_batch: Callable[[int, float], None] | None = None,
    ):
        self._batch_fn = batch_fn
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self._executor = executor
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Pending[T, R]] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize() if self._queue else 0

    def start(self) -> None:
        if self._task is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._queue is not None:
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                if not pending.future.done():
                    pending.future.set_exception(RuntimeError("service is shutting down"))

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result (or the exception its batch raised for it)."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(item, future))
        return await future

    async def _gather(self) -> list[_Pending[T, R]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        deadline = batch[0].queued_at + self.max_delay_s
        while len(batch) < self.max_batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # Past the deadline: still take whatever is already waiting, without waiting more.
                while len(batch) < self.max_batch_size and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        while True:
            # One call per batch, so the batch's inputs (decoded images, often the largest objects in the
            # process) are dropped when it is answered, not kept until the next request arrives.
            await self._serve(await self._gather())

    async def _serve(self, gathered: list[_Pending[T, R]]) -> None:
        # A caller that gave up (client disconnected) needs no result.
        batch = [p for p in gathered if not p.future.cancelled()]
        if not batch:
            return
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        outcomes = await loop.run_in_executor(self._executor, self._run_batch, [p.item for p in batch])
        if self._on_batch is not None:
            self._on_batch(len(batch), time.perf_counter() - started)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    def _run_batch(self, items: list[T]) -> list[R | BaseException]:
        """Runs on the worker thread. If the batch fails, retry items one by one so one bad input
        cannot fail the requests that happened to share its batch."""
        try:
            results = self._batch_fn(items)
            if len(results) != len(items):
                raise BatchSizeMismatch(
                    f"predict_batch returned {len(results)} results for {len(items)} inputs"
                )
            return list(results)
        except Exception as batch_exc:
            if len(items) == 1:
                return [batch_exc]
        outcomes: list[R | BaseException] = []
        for item in items:
            try:
                single = self._batch_fn([item])
                if len(single) != 1:
                    raise BatchSizeMismatch(f"predict_batch returned {len(single)} results for 1 input")
                outcomes.append(single[0])
            except Exception as exc:
                outcomes.append(exc)
        return outcomes
