"""The embedded job engine: runs queued job items inside the gateway process, no extra server needed.

    engine = JobEngine(gateway, spool, gate)
    await engine.start()    # resolve what a stopped gateway left running, then dispatch
    engine.wake()           # after a job is stored: look for work now
    await engine.stop()     # on shutdown; items cut short are resolved by the next start

One dispatcher task claims items and hands each to its own task, at most ``jobs_concurrency`` at a time.
Before each claim it waits for interactive /detect traffic to be quiet (gateway/jobs/priority.py). Jobs
take turns: the next item comes from the job served least recently, so a big job does not hold up a
small one submitted after it. The database is the queue (nothing lives only in memory), so a restart
loses nothing: ``start`` first settles the items left ``running`` (gateway/jobs/store.py), then the
queued ones run as before. This engine assumes it is the only one working on its database; several
gateways sharing one database need the broker-backed engine instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import TYPE_CHECKING

from gateway.jobs import store
from gateway.jobs.priority import InteractiveGate
from gateway.jobs.runner import ItemRunner
from gateway.jobs.spool import JobSpool

if TYPE_CHECKING:
    from gateway.routes.deps import Gateway

log = logging.getLogger("gateway.jobs")

# With no work, the dispatcher looks again this often even without a wake (a safety net only).
IDLE_POLL_S = 5.0
# After a database error the dispatcher pauses this long before trying again.
ERROR_PAUSE_S = 2.0


class JobEngine:
    """See the module docstring."""

    def __init__(self, gateway: Gateway, spool: JobSpool, gate: InteractiveGate):
        self.gateway = gateway
        self.db = gateway.db
        self.spool = spool
        self.gate = gate
        self.runner = ItemRunner(gateway, spool)
        self.concurrency = gateway.settings.jobs_concurrency
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(self.concurrency)
        self._dispatcher: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._turns = itertools.count()
        self._last_turn: dict[str, int] = {}

    @property
    def running(self) -> int:
        """Items being analysed right now."""
        return len(self._running)

    async def start(self) -> None:
        recovery = await asyncio.to_thread(store.recover, self.db)
        pending = await asyncio.to_thread(store.jobs_with_pending_items, self.db)
        removed = await asyncio.to_thread(self.spool.sweep, pending)
        log.info(
            "job engine started",
            extra={
                "fields": {
                    "concurrency": self.concurrency,
                    "recovered_done": recovery.finished,
                    "requeued": recovery.requeued,
                    "recovered_cancelled": recovery.cancelled,
                    "jobs_pending": len(pending),
                    "folders_removed": len(removed),
                }
            },
        )
        self._dispatcher = asyncio.create_task(self._dispatch(), name="job-dispatcher")

    async def stop(self) -> None:
        tasks = [t for t in [self._dispatcher, *self._running] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._dispatcher = None

    def wake(self) -> None:
        """New work was stored: stop idling."""
        self._wake.set()

    async def _dispatch(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                item = await self._next_item()
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._run(item), name=f"job-item-{item.job_id}-{item.seq}")
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def _next_item(self) -> store.ClaimedItem:
        """Wait for interactive quiet and for work; claim the next item, fairly across jobs."""
        while True:
            await self.gate.wait_turn()
            self._wake.clear()  # cleared before looking: a wake after this look is not lost
            try:
                item = await asyncio.to_thread(self._claim_fairly)
            except Exception:
                log.exception("job engine: cannot read the queue; retrying in %.0f s", ERROR_PAUSE_S)
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            if item is not None:
                return item
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)

    def _claim_fairly(self) -> store.ClaimedItem | None:
        jobs = store.jobs_with_queued_items(self.db)
        self._last_turn = {job: turn for job, turn in self._last_turn.items() if job in jobs}
        # Oldest-served job first; jobs never served yet go first, oldest job first (the list's order).
        for job_id in sorted(jobs, key=lambda job: self._last_turn.get(job, -1)):
            item = store.claim(self.db, job_id)
            if item is not None:
                self._last_turn[job_id] = next(self._turns)
                return item
        return None

    async def _run(self, item: store.ClaimedItem) -> None:
        try:
            await self.runner.run(item)
        except asyncio.CancelledError:
            raise  # shutdown: the item stays running in the database and the next start settles it
        except Exception as exc:
            log.exception("job item %s/%d failed unexpectedly", item.job_id, item.seq)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(
                    store.finish_failed, self.db, item.id, "internal_error", f"{type(exc).__name__}: {exc}"
                )
