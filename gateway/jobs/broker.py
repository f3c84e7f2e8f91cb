"""The broker-backed job engine (``jobs_engine: procrastinate``): gateways enqueue, workers run.

    engine = BrokerEngine(gateway, spool, gate)   # what create_app builds for jobs_engine: procrastinate
    await engine.start()     # the queue's schema, then the enqueuer
    engine.wake()            # after a job is stored: enqueue its items now
    await engine.stop()

The queue is procrastinate's, in the same PostgreSQL database as the jobs and the history (the broker is
the database the gateways already share). Each job item becomes one procrastinate job of the task
``TASK_NAME`` carrying only the item's id; its file waits in the shared spool and its state in
``job_items``, as with the embedded engine. Workers (gateway/jobs/worker.py) run the task.

Enqueueing is a sweep, not a side effect of the upload: it defers a task for every queued or running item
that has no live task (``todo`` or ``doing``), so an upload whose gateway died before enqueueing, an item
whose worker was stopped past its grace period, or one whose task failed for any reason is picked up on
the next sweep (every ``SWEEP_INTERVAL_S``, and at once on ``wake``). Each item's task carries a queueing
lock, so two gateways sweeping at once queue it once. A duplicate task is harmless anyway: the worker
holds the item's lock while running it and ``store.take`` runs only what is queued or was cut short.

Fairness: an item's priority is minus its number in its job, so the queue serves every job's first item,
then every job's second, and so on: a small job is not stuck behind a big one submitted before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import text

from gateway.db.engine import Database
from gateway.jobs.priority import InteractiveGate
from gateway.jobs.spool import JobSpool

if TYPE_CHECKING:
    import procrastinate

    from gateway.routes.deps import Gateway

log = logging.getLogger("gateway.jobs")

TASK_NAME = "tribunal.run_job_item"
QUEUE = "tribunal-jobs"
QUEUEING_LOCK_PREFIX = "tribunal-item-"
# The enqueuer looks for items without a task this often even without a wake (uploads of a gateway that
# died before enqueueing, tasks of workers stopped mid-item).
SWEEP_INTERVAL_S = 10.0
SWEEP_BATCH = 2000
ERROR_PAUSE_S = 2.0
# Any fixed number (the two-key form of PostgreSQL advisory locks, a space apart from the one-key locks
# gateway/db uses): serialises the creation of procrastinate's schema across gateways and workers.
SCHEMA_LOCK = (0x54524A42, 1)  # "TRJB"
MIN_PRIORITY = -(2**31) + 1


def conninfo(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (postgresql+psycopg://...)."""
    from psycopg.conninfo import make_conninfo
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"the broker engine needs a PostgreSQL database_url, not {url.get_backend_name()}")
    params = {
        key: value
        for key, value in {
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
            "dbname": url.database,
        }.items()
        if value is not None
    }
    params.update({key: value for key, value in url.query.items() if isinstance(value, str)})
    return make_conninfo(**params)


def broker_app(database_url: str) -> procrastinate.App:
    """A procrastinate app on the gateway's database (not opened)."""
    import procrastinate

    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)))


async def ensure_schema(app: procrastinate.App, database_url: str) -> bool:
    """Create procrastinate's tables on a database that has none yet; True when it did. Gateways and
    workers starting together take turns (an advisory lock), so exactly one of them creates it."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(conninfo(database_url), autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s, %s)", SCHEMA_LOCK)
        try:
            cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
            row = await cursor.fetchone()
            if row is not None and row[0]:
                return False
            await app.schema_manager.apply_schema_async()
            log.info("created the job queue's tables (procrastinate)")
            return True
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s, %s)", SCHEMA_LOCK)


def items_without_task(db: Database, limit: int = SWEEP_BATCH) -> list[tuple[int, int]]:
    """(item id, seq) of the items queued or running that no live task (todo or doing) will run."""
    with db.session() as session:
        rows = session.execute(
            text(
                "SELECT i.id, i.seq FROM job_items i "
                "WHERE i.state IN ('queued', 'running') AND NOT EXISTS ("
                "  SELECT 1 FROM procrastinate_jobs p"
                "  WHERE p.queueing_lock = :prefix || i.id::text AND p.status IN ('todo', 'doing')"
                ") ORDER BY i.id LIMIT :limit"
            ),
            {"prefix": QUEUEING_LOCK_PREFIX, "limit": limit},
        )
        return [(row[0], row[1]) for row in rows]


def item_task(item_id: int, seq: int) -> procrastinate.jobs.Job:
    from procrastinate import jobs

    return jobs.Job(
        id=None,
        queue=QUEUE,
        priority=max(MIN_PRIORITY, -seq),
        lock=None,
        queueing_lock=f"{QUEUEING_LOCK_PREFIX}{item_id}",
        task_name=TASK_NAME,
        task_kwargs={"item_id": item_id},
    )


async def enqueue(app: procrastinate.App, items: Sequence[tuple[int, int]]) -> int:
    """Defer one task per (item id, seq); how many were deferred (those already queued are skipped)."""
    from procrastinate import exceptions

    if not items:
        return 0
    try:
        await app.job_manager.batch_defer_jobs_async([item_task(i, seq) for i, seq in items])
        return len(items)
    except exceptions.AlreadyEnqueued:
        pass  # another gateway's sweep queued some of them meanwhile: one by one, skipping those
    deferred = 0
    for item_id, seq in items:
        with contextlib.suppress(exceptions.AlreadyEnqueued):
            await app.job_manager.defer_job_async(item_task(item_id, seq))
            deferred += 1
    return deferred


async def enqueue_pending(app: procrastinate.App, db: Database) -> int:
    """Every item without a live task gets one (in rounds of SWEEP_BATCH); how many were deferred."""
    total = 0
    while True:
        items = await asyncio.to_thread(items_without_task, db)
        total += await enqueue(app, items)
        if len(items) < SWEEP_BATCH:
            return total


class BrokerEngine:
    """See the module docstring. The gateway runs no item itself: ``gate`` is kept for the interactive
    traffic middleware, but with the items on workers nothing here waits on it."""

    def __init__(self, gateway: Gateway, spool: JobSpool, gate: InteractiveGate):
        self.gateway = gateway
        self.db = gateway.db
        self.spool = spool
        self.gate = gate
        self.app = broker_app(gateway.settings.database_url_or_default)
        self._wake = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def running(self) -> int:
        return 0  # items run on the workers

    async def start(self) -> None:
        await self.app.open_async()
        await ensure_schema(self.app, self.gateway.settings.database_url_or_default)
        log.info("job engine started", extra={"fields": {"engine": "procrastinate", "queue": QUEUE}})
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="job-enqueuer")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
            self._sweeper = None
        await self.app.close_async()

    def wake(self) -> None:
        """New work was stored: enqueue it now."""
        self._wake.set()

    async def _sweep_forever(self) -> None:
        while True:
            self._wake.clear()  # before looking: a wake during the sweep is not lost
            try:
                deferred = await enqueue_pending(self.app, self.db)
                if deferred:
                    log.info("job items enqueued", extra={"fields": {"items": deferred}})
            except Exception:
                log.exception("job engine: cannot enqueue; retrying in %.0f s", ERROR_PAUSE_S)
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SWEEP_INTERVAL_S)
