"""History retention: delete the oldest analyses past an age or beyond a row count, a few at a time.

Off by default (``history_max_age_days`` and ``history_max_rows`` unset). When either is set, the
gateway sweeps at start-up and then every ``history_cleanup_interval_s``: it works out which rows are
past a limit (a read, off the writer), then deletes them oldest first, ``DELETE_BATCH`` rows per
transaction, each batch with its detector rows and, after the commit, its kept upload files. Each
batch runs on the history writer between two batches of new rows, so a sweep of a large table
delays a detection's history write by one small delete at most, never by the whole sweep.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, and_, delete, or_, select

from gateway.db.engine import Database
from gateway.db.models import Analysis, DetectorResult, utcnow
from gateway.history.batching import GroupCommit
from gateway.history.uploads import delete_upload

log = logging.getLogger("gateway.history")

DELETE_BATCH = 500

_analyses = Analysis.__table__
_detector_results = DetectorResult.__table__


@dataclass(frozen=True)
class RetentionPolicy:
    """How much history to keep; None for a limit means no limit."""

    max_age_days: float | None = None
    max_rows: int | None = None

    @property
    def enabled(self) -> bool:
        return self.max_age_days is not None or self.max_rows is not None


class HistoryRetention:
    """Deletes what ``policy`` no longer keeps. ``sweep()`` runs it now; ``run_every`` keeps doing it."""

    def __init__(self, db: Database, data_dir: Path, policy: RetentionPolicy, batch_rows: int = DELETE_BATCH):
        self.db = db
        self.data_dir = data_dir
        self.policy = policy
        self.batch_rows = batch_rows

    def past_limits(self, now: datetime) -> ColumnElement[bool] | None:
        """A condition on analyses that holds for every row past a limit as of ``now``; None if none is.

        The row-count limit becomes a fixed (created_at, id) boundary here, so the rows answered while the
        sweep runs, all newer, are never counted against it.
        """
        conditions: list[ColumnElement[bool]] = []
        if self.policy.max_age_days is not None:
            conditions.append(_analyses.c.created_at < now - timedelta(days=self.policy.max_age_days))
        if self.policy.max_rows is not None:
            with self.db.engine.connect() as connection:
                first_dropped = connection.execute(
                    select(_analyses.c.created_at, _analyses.c.id)
                    .order_by(_analyses.c.created_at.desc(), _analyses.c.id.desc())
                    .offset(self.policy.max_rows)
                    .limit(1)
                ).first()
            if first_dropped is not None:
                at, last_id = first_dropped
                conditions.append(
                    or_(
                        _analyses.c.created_at < at,
                        and_(_analyses.c.created_at == at, _analyses.c.id <= last_id),
                    )
                )
        return or_(*conditions) if conditions else None

    def delete_batch(self, condition: ColumnElement[bool]) -> int:
        """Delete up to ``batch_rows`` of the oldest rows matching ``condition`` (one transaction) and
        their kept files; how many rows went."""
        with self.db.engine.begin() as connection:
            rows = connection.execute(
                select(_analyses.c.id, _analyses.c.stored_path)
                .where(condition)
                .order_by(_analyses.c.created_at, _analyses.c.id)
                .limit(self.batch_rows)
            ).all()
            if not rows:
                return 0
            ids = [row.id for row in rows]
            # Explicitly, not by ON DELETE CASCADE: SQLite enforces that only with its foreign-key pragma.
            connection.execute(delete(_detector_results).where(_detector_results.c.analysis_id.in_(ids)))
            connection.execute(delete(_analyses).where(_analyses.c.id.in_(ids)))
        for row in rows:
            delete_upload(self.data_dir, row.stored_path)
        return len(rows)

    def sweep(self, now: datetime | None = None) -> int:
        """Delete everything past the limits now, batch by batch; how many rows went."""
        condition = self.past_limits(now or utcnow())
        deleted = 0
        while condition is not None:
            count = self.delete_batch(condition)
            deleted += count
            if count < self.batch_rows:
                break
        return deleted

    async def sweep_between(self, writer: GroupCommit) -> int:
        """``sweep()`` with each delete run by the history writer between its batches of new rows."""
        condition = await asyncio.to_thread(self.past_limits, utcnow())
        deleted = 0
        while condition is not None:
            count = await writer.run(lambda: self.delete_batch(condition))
            deleted += count
            if count < self.batch_rows:
                break
        return deleted

    async def run_every(self, interval_s: float, writer: GroupCommit) -> None:
        """Sweep now and then every ``interval_s`` until cancelled; a failed sweep is logged and retried."""
        while True:
            try:
                deleted = await self.sweep_between(writer)
                if deleted:
                    log.info("history retention deleted %d analyses (%s)", deleted, self.policy)
            except Exception:
                log.exception("history retention sweep failed; trying again in %g s", interval_s)
            await asyncio.sleep(interval_s)
