"""Every write to the jobs tables: submitting, claiming, finishing, cancelling and recovering items.

Blocking (SQLAlchemy sessions): the engine and the routes call these in a worker thread.

The exactly-once rule lives here. An item runs as: ``claim`` (queued -> running), detection,
``record_analysis`` (the answer's id on the item), the history row committed, ``finish_done``
(running -> done). ``recover`` at start-up resolves each item left running by a killed gateway: if its
recorded analysis is in the history it is done (its result read back from that row), otherwise it runs
again. So no item is recorded twice in the history, and none is lost.

With the broker engine several workers share the database, so nothing settles every running item at once:
a worker that receives an item calls ``take`` while it holds that item's lock (gateway/jobs/worker.py),
which claims a queued item, or settles one a stopped worker left running by the same rule as ``recover``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gateway.db.engine import Database
from gateway.db.models import Analysis, Job, JobItem, utcnow
from gateway.history.queries import public_source
from gateway.jobs.intake import ItemDraft
from gateway.schemas import DetectionAnswer

MAX_ERROR = 1000


@dataclass(frozen=True)
class ClaimedItem:
    """An item this gateway is now running, with what running it needs from its job."""

    id: int
    job_id: str
    seq: int
    name: str
    user_id: int | None
    options: dict[str, Any]
    attempts: int


def _item_rows(job_id: str, drafts: Sequence[ItemDraft]) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "job_id": job_id,
            "seq": draft.seq,
            "name": draft.name,
            "size_bytes": draft.size_bytes,
            "state": "failed" if draft.error_code else "queued",
            "attempts": 0,
            "error_code": draft.error_code,
            "error": (draft.error or "")[:MAX_ERROR] if draft.error_code else None,
            "finished_at": now if draft.error_code else None,
        }
        for draft in drafts
    ]


def create_job(
    db: Database,
    job_id: str,
    user_id: int | None,
    name: str,
    options: Mapping[str, Any],
    drafts: Sequence[ItemDraft],
) -> None:
    """Store a job and its items in one transaction."""
    with db.session() as session:
        session.add(Job(id=job_id, user_id=user_id, name=name[:255], options=dict(options)))
        session.flush()
        session.execute(JobItem.__table__.insert(), _item_rows(job_id, drafts))


def next_seq(db: Database, job_id: str) -> int:
    with db.session() as session:
        return (session.scalar(select(func.max(JobItem.seq)).where(JobItem.job_id == job_id)) or 0) + 1


def append_items(db: Database, job_id: str, drafts: Sequence[ItemDraft]) -> bool:
    """Add items to a job; False (nothing added) when the job was cancelled in the meantime."""
    with db.session() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or job.cancelled_at is not None:
            return False
        session.execute(JobItem.__table__.insert(), _item_rows(job_id, drafts))
        return True


def jobs_with_queued_items(db: Database) -> list[str]:
    """Ids of the jobs (not cancelled) with items waiting, oldest job first."""
    with db.session() as session:
        rows = session.execute(
            select(Job.id)
            .where(Job.cancelled_at.is_(None))
            .where(select(JobItem.id).where(JobItem.job_id == Job.id, JobItem.state == "queued").exists())
            .order_by(Job.created_at, Job.id)
        )
        return [row[0] for row in rows]


def claim(db: Database, job_id: str) -> ClaimedItem | None:
    """Mark the job's next queued item running and return it; None when it has none (or lost a race)."""
    with db.session() as session:
        row = session.execute(
            select(JobItem.id, JobItem.seq, JobItem.name, JobItem.attempts, Job.user_id, Job.options)
            .join(Job, Job.id == JobItem.job_id)
            .where(JobItem.job_id == job_id, JobItem.state == "queued", Job.cancelled_at.is_(None))
            .order_by(JobItem.seq)
            .limit(1)
        ).first()
        if row is None:
            return None
        claimed = session.execute(
            update(JobItem)
            .where(JobItem.id == row.id, JobItem.state == "queued")
            .values(state="running", attempts=JobItem.attempts + 1, started_at=utcnow(), analysis_id=None)
        )
        if claimed.rowcount != 1:
            return None
        return ClaimedItem(
            row.id, job_id, row.seq, row.name, row.user_id, row.options or {}, row.attempts + 1
        )


def record_analysis(db: Database, item_id: int, analysis_id: str) -> None:
    """Before the history row is written: the id it will have, so a restart can look for it."""
    with db.session() as session:
        session.execute(update(JobItem).where(JobItem.id == item_id).values(analysis_id=analysis_id))


def finish_done(db: Database, item_id: int, answer: DetectionAnswer) -> None:
    """After the history row is committed: the item is done, with a copy of the result for /results."""
    source = answer.attribution.predicted_source if answer.attribution else None
    _finish(db, item_id, "done", answer.id, answer.verdict, answer.score_fake, source, None, None)


def finish_failed(db: Database, item_id: int, code: str, detail: str) -> None:
    _finish(db, item_id, "failed", None, None, None, None, code, detail[:MAX_ERROR])


def _finish(
    db: Database,
    item_id: int,
    state: str,
    analysis_id: str | None,
    verdict: str | None,
    score_fake: float | None,
    source: str | None,
    code: str | None,
    detail: str | None,
) -> None:
    with db.session() as session:
        session.execute(
            update(JobItem)
            .where(JobItem.id == item_id)
            .values(
                state=state,
                analysis_id=analysis_id,
                verdict=verdict,
                score_fake=score_fake,
                predicted_source=source,
                error_code=code,
                error=detail,
                finished_at=utcnow(),
            )
        )


def cancel(db: Database, job_id: str) -> list[int]:
    """Cancel a job: its queued items will never run (running ones finish). The seqs it cancelled.
    A job with nothing queued or running is left as it is (done stays done)."""
    with db.session() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            return []
        seqs = list(
            session.scalars(select(JobItem.seq).where(JobItem.job_id == job_id, JobItem.state == "queued"))
        )
        running = session.scalar(
            select(func.count())
            .select_from(JobItem)
            .where(JobItem.job_id == job_id, JobItem.state == "running")
        )
        if job.cancelled_at is None and (seqs or running):
            job.cancelled_at = utcnow()
        session.execute(
            update(JobItem)
            .where(JobItem.job_id == job_id, JobItem.state == "queued")
            .values(state="cancelled", finished_at=utcnow())
        )
        return seqs


def jobs_with_pending_items(db: Database) -> set[str]:
    with db.session() as session:
        return set(
            session.scalars(select(JobItem.job_id).where(JobItem.state.in_(("queued", "running"))).distinct())
        )


@dataclass(frozen=True)
class Recovery:
    finished: int  # running at the stop, and their history row exists: marked done, not rerun
    requeued: int  # running at the stop without a history row: will run again
    cancelled: int  # running at the stop in a job cancelled meanwhile, without a history row


def _settle(session: Session, item_id: int, analysis_id: str | None, cancelled_at: object) -> str:
    """Resolve one item a stopped gateway or worker left running: "done" when the history holds its
    recorded analysis (the result read back from that row), else "cancelled" in a cancelled job, else
    "queued" (it must run again)."""
    analysis = session.get(Analysis, analysis_id) if analysis_id else None
    values: dict[str, Any]
    if analysis is not None:
        outcome = "done"
        values = {
            "state": "done",
            "verdict": analysis.verdict,
            "score_fake": analysis.score_fake,
            "predicted_source": public_source(analysis.predicted_source),
            "finished_at": analysis.created_at,
        }
    elif cancelled_at is not None:
        outcome = "cancelled"
        values = {"state": "cancelled", "analysis_id": None, "finished_at": utcnow()}
    else:
        outcome = "queued"
        values = {"state": "queued", "analysis_id": None, "started_at": None}
    session.execute(update(JobItem).where(JobItem.id == item_id).values(**values))
    return outcome


def recover(db: Database) -> Recovery:
    """Resolve the items a stopped gateway left running (call before any worker starts)."""
    counts = {"done": 0, "queued": 0, "cancelled": 0}
    with db.session() as session:
        rows = session.execute(
            select(JobItem.id, JobItem.analysis_id, Job.cancelled_at)
            .join(Job, Job.id == JobItem.job_id)
            .where(JobItem.state == "running")
        ).all()
        for item_id, analysis_id, cancelled_at in rows:
            counts[_settle(session, item_id, analysis_id, cancelled_at)] += 1
    return Recovery(counts["done"], counts["queued"], counts["cancelled"])


@dataclass(frozen=True)
class Taken:
    """What ``take`` found: the item to run now (``item``), or why there is nothing to run (``outcome``:
    ``done``/``failed``/``cancelled`` already final or settled so, ``missing``)."""

    item: ClaimedItem | None
    outcome: str
    resumed: bool = False  # a stopped worker had left it running


def take(db: Database, item_id: int) -> Taken:
    """For a worker holding the item's lock (so no live process runs it): claim the item when it is
    queued; settle it when a stopped worker left it running, claiming it again if it must rerun."""
    with db.session() as session:
        row = session.execute(
            select(
                JobItem.state,
                JobItem.analysis_id,
                JobItem.seq,
                JobItem.name,
                JobItem.attempts,
                JobItem.job_id,
                Job.user_id,
                Job.options,
                Job.cancelled_at,
            )
            .join(Job, Job.id == JobItem.job_id)
            .where(JobItem.id == item_id)
            .with_for_update(of=JobItem)
        ).first()
        if row is None:
            return Taken(None, "missing")
        resumed = False
        state = row.state
        if state == "running":
            state = _settle(session, item_id, row.analysis_id, row.cancelled_at)
            resumed = True
        if state != "queued":
            return Taken(None, state, resumed)
        if row.cancelled_at is not None:  # cancel() marks queued items cancelled; this only closes a race
            session.execute(
                update(JobItem).where(JobItem.id == item_id).values(state="cancelled", finished_at=utcnow())
            )
            return Taken(None, "cancelled", resumed)
        session.execute(
            update(JobItem)
            .where(JobItem.id == item_id)
            .values(state="running", attempts=JobItem.attempts + 1, started_at=utcnow(), analysis_id=None)
        )
        item = ClaimedItem(
            item_id, row.job_id, row.seq, row.name, row.user_id, row.options or {}, row.attempts + 1
        )
        return Taken(item, "running", resumed)
