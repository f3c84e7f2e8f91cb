"""``python -m gateway.jobs.worker``: a jobs worker for the broker engine (``jobs_engine: procrastinate``).

    TRIBUNAL_JOBS_ENGINE=procrastinate TRIBUNAL_DATABASE_URL=postgresql+psycopg://... python -m gateway.jobs.worker
    python -m gateway.jobs.worker --check      # exit 0 while a worker on this host is alive (healthchecks)

A worker reads the same settings as the gateway (config/gateway.yaml, TRIBUNAL_* variables) and builds the
gateway's working parts with ``gateway.app.build_gateway``, as ``create_app`` does (the detection service against the registered detectors, the history
recorder, the owner's detection quota), so an item runs exactly as on the embedded engine and as a /detect
of its file: ``ItemRunner``, one history row, the same exactly-once bookkeeping. It needs the gateways'
database and their job spool (``<data_dir>/jobs``, a shared volume); it serves no HTTP and holds no
token secret of its own.

It runs ``jobs_concurrency`` items at once, each as one procrastinate task of gateway/jobs/broker.py.
Exactly once, with workers that die:

1. A task first takes the item's lock: a PostgreSQL advisory lock on a connection of its own, held while
   the item runs. The database drops it the moment that connection closes, so a worker killed by SIGKILL
   (or a lost machine, once its TCP connection times out) lets go of its items without any timeout of
   ours, and while the worker lives nobody else can run them, however late its heartbeats are.
2. Holding the lock, ``store.take`` claims the item if it is queued, or settles an item a stopped worker
   left running: done when its recorded analysis is in the history, otherwise run again.
3. A worker that stops sending heartbeats for ``jobs_worker_stalled_s`` is taken for dead: every worker
   hands the tasks it held back to the queue (procrastinate's stalled jobs). Should that worker still be
   alive after all, the task finds the lock taken and waits (``ItemBusy``, retried later).

SIGTERM stops taking new items and lets the running ones finish for ``SHUTDOWN_GRACE_S``; items still
running then are cut short, and the gateways' enqueuer hands them to another worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.jobs import store
from gateway.jobs.broker import QUEUE, TASK_NAME, broker_app, conninfo, ensure_schema
from gateway.jobs.runner import ItemRunner
from gateway.jobs.spool import JobSpool
from gateway.registry import RegistryError, load_registry
from gateway.settings import GatewaySettings, SettingsError, load_settings

if TYPE_CHECKING:
    import procrastinate

log = logging.getLogger("gateway.jobs.worker")

# The two-key form of PostgreSQL advisory locks, (this number, item id): one lock per job item.
ITEM_LOCK_CLASS = 0x54524A49  # "TRJI"
# On SIGTERM, running items get this long to finish (below Kubernetes' default 30 s grace period).
SHUTDOWN_GRACE_S = 20.0
# A task whose item another live process holds is tried again after this long, this many times at most;
# after that the gateways' enqueuer gives the item a new task if it still needs one.
BUSY_RETRY_S = 5
BUSY_MAX_ATTEMPTS = 1000
DEFAULT_ALIVE_FILE = Path(tempfile.gettempdir()) / "tribunal-jobs-worker.alive"


class ItemBusy(Exception):
    """Another live process holds this item's lock (it is running the item); try again later.

    Outside the TribunalError tree: a retry signal for the task queue, never shown to anyone."""


class ItemTask:
    """The body of the ``TASK_NAME`` task: lock the item, take it, run it (see the module docstring)."""

    def __init__(self, runner: ItemRunner, database_url: str):
        self.runner = runner
        self.db = runner.gateway.db
        self.conninfo = conninfo(database_url)

    @contextlib.asynccontextmanager
    async def item_lock(self, item_id: int) -> AsyncIterator[bool]:
        """True while this worker holds the item's lock; False (and nothing held) when another does."""
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
            cursor = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (ITEM_LOCK_CLASS, item_id))
            row = await cursor.fetchone()
            # Closing the connection (leaving this block, or the process dying) releases the lock.
            yield bool(row and row[0])

    async def run(self, item_id: int) -> str:
        """What became of the item: ``ran``, or why it did not run (``done``, ``cancelled``, ...)."""
        async with self.item_lock(item_id) as held:
            if not held:
                raise ItemBusy(f"job item {item_id} is being run by another worker")
            taken = await asyncio.to_thread(store.take, self.db, item_id)
            if taken.resumed:
                log.info(
                    "job item left running by a stopped worker",
                    extra={
                        "fields": {"item_id": item_id, "now": "run again" if taken.item else taken.outcome}
                    },
                )
            if taken.item is None:
                return taken.outcome
            item = taken.item
            try:
                await self.runner.run(item)
            except asyncio.CancelledError:
                raise  # shutdown: the item stays running; another worker settles it
            except Exception as exc:
                log.exception("job item %s/%d failed unexpectedly", item.job_id, item.seq)
                await asyncio.to_thread(
                    store.finish_failed, self.db, item.id, "internal_error", f"{type(exc).__name__}: {exc}"
                )
            return "ran"


async def retry_stalled_tasks(
    app: procrastinate.App, stalled_s: float, every_s: float, alive_file: Path | None
) -> None:
    """Forever: hand the tasks of workers silent for ``stalled_s`` back to the queue; touch ``alive_file``."""
    while True:
        if alive_file is not None:
            with contextlib.suppress(OSError):
                alive_file.touch()
        try:
            stalled = await app.job_manager.get_stalled_jobs(
                queue=QUEUE, task_name=TASK_NAME, seconds_since_heartbeat=stalled_s
            )
            for job in stalled:
                try:
                    await app.job_manager.retry_job(job)
                except Exception:
                    continue  # another worker handed it back first
                log.warning(
                    "job item of a stalled worker handed back to the queue",
                    extra={"fields": {"task_id": job.id, "item_id": job.task_kwargs.get("item_id")}},
                )
        except Exception:
            log.exception("jobs worker: cannot look for stalled tasks")
        await asyncio.sleep(every_s)


async def serve(settings: GatewaySettings, alive_file: Path | None = DEFAULT_ALIVE_FILE) -> None:
    """Run items until SIGTERM or SIGINT."""
    import procrastinate

    from gateway.app import build_gateway  # the gateway's own construction of its parts, reused as is

    database_url = settings.database_url_or_default
    # A worker signs and checks no token: a throwaway secret, not the gateways' own.
    gateway = build_gateway(settings, load_registry(settings.registry_path), secrets.token_urlsafe(48))
    spool = JobSpool(settings.data_dir)
    task = ItemTask(ItemRunner(gateway, spool), database_url)
    app = broker_app(database_url)

    @app.task(
        name=TASK_NAME,
        queue=QUEUE,
        retry=procrastinate.RetryStrategy(
            max_attempts=BUSY_MAX_ATTEMPTS, wait=BUSY_RETRY_S, retry_exceptions={ItemBusy}
        ),
    )
    async def run_job_item(item_id: int) -> str:
        return await task.run(item_id)

    try:
        async with app.open_async():
            await ensure_schema(app, database_url)
            reaper = asyncio.create_task(
                retry_stalled_tasks(
                    app, settings.jobs_worker_stalled_s, settings.jobs_worker_heartbeat_s, alive_file
                ),
                name="jobs-stalled-tasks",
            )
            log.info(
                "jobs worker started",
                extra={"fields": {"queue": QUEUE, "concurrency": settings.jobs_concurrency}},
            )
            try:
                await app.run_worker_async(
                    queues=[QUEUE],
                    name="tribunal-jobs",
                    concurrency=settings.jobs_concurrency,
                    update_heartbeat_interval=settings.jobs_worker_heartbeat_s,
                    stalled_worker_timeout=settings.jobs_worker_stalled_s,
                    shutdown_graceful_timeout=SHUTDOWN_GRACE_S,
                    delete_jobs="successful",
                    install_signal_handlers=True,
                )
            finally:
                reaper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reaper
    finally:
        await gateway.history.aclose()  # rows of items already run are committed
        await gateway.fanout.aclose()
        gateway.db.dispose()
        if alive_file is not None:
            alive_file.unlink(missing_ok=True)
    log.info("jobs worker stopped")


def check_alive(alive_file: Path, heartbeat_s: float) -> bool:
    """A worker on this host touched ``alive_file`` within three heartbeats."""
    try:
        return time.time() - alive_file.stat().st_mtime < 3 * heartbeat_s
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 0 when a worker here is alive, else 1")
    parser.add_argument("--alive-file", type=Path, default=DEFAULT_ALIVE_FILE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.check:
            return 0 if check_alive(args.alive_file, settings.jobs_worker_heartbeat_s) else 1
        if settings.jobs_engine != "procrastinate":
            raise SettingsError(
                f"jobs_engine is {settings.jobs_engine!r}: workers run the items of jobs_engine 'procrastinate' "
                "only (set TRIBUNAL_JOBS_ENGINE=procrastinate here and on the gateways)"
            )
    except (SettingsError, RegistryError) as exc:
        print(f"tribunal jobs worker: configuration error:\n{exc}", file=sys.stderr)
        return 2
    from tribunal_sdk.logs import configure_logging

    configure_logging(settings.log_level)
    if settings.log_level == "INFO":
        logging.getLogger("procrastinate").setLevel(logging.WARNING)  # a line per task start and end
    try:
        asyncio.run(serve(settings, args.alive_file))
    except (SettingsError, RegistryError) as exc:
        print(f"tribunal jobs worker: configuration error:\n{exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
