"""Reading jobs as their callers may see them: summaries, one job's items, the caller's list.

Who sees what follows the history (gateway/history/scope.py): a user their own jobs, an admin
everyone's, an anonymous caller (auth off) the jobs nobody owns. Someone else's job is a 404, exactly
like an unknown one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from gateway.auth.identity import Identity
from gateway.db.models import Job, JobItem
from gateway.errors import NotFound
from gateway.fusion import Verdict
from gateway.history.scope import visible_to
from gateway.jobs.schemas import (
    ItemState,
    JobDetail,
    JobItemStatus,
    JobOptions,
    JobPage,
    JobProgress,
    JobSummary,
    job_state,
)


def visible_jobs(query: Select, viewer: Identity) -> Select:
    """Narrow a query over Job to the jobs ``viewer`` may read (the same rule as for analyses)."""
    return visible_to(query, viewer, owner=Job.user_id)


def get_job(session: Session, viewer: Identity, job_id: str) -> Job:
    job = session.scalars(
        visible_jobs(select(Job).options(joinedload(Job.user)).where(Job.id == job_id), viewer)
    ).first()
    if job is None:
        raise NotFound(f"no job {job_id!r} among yours")
    return job


def _progress(session: Session, job_ids: Sequence[str]) -> dict[str, tuple[JobProgress, object]]:
    """Per job: its items counted by state, and when the last one finished."""
    found: dict[str, tuple[JobProgress, object]] = {}
    if not job_ids:
        return found
    rows = session.execute(
        select(JobItem.job_id, JobItem.state, func.count(), func.max(JobItem.finished_at))
        .where(JobItem.job_id.in_(job_ids))
        .group_by(JobItem.job_id, JobItem.state)
    )
    latest: dict[str, object] = {}
    counts: dict[str, JobProgress] = {job_id: JobProgress() for job_id in job_ids}
    for job_id, state, count, finished in rows:
        progress = counts[job_id]
        setattr(progress, state, count)
        progress.total += count
        if finished is not None and (latest.get(job_id) is None or finished > latest[job_id]):
            latest[job_id] = finished
    for job_id, progress in counts.items():
        found[job_id] = (progress, latest.get(job_id))
    return found


def _summary(job: Job, progress: JobProgress, last_finished: object) -> JobSummary:
    state = job_state(progress, job.cancelled_at is not None)
    return JobSummary(
        id=job.id,
        state=state,
        name=job.name,
        username=job.user.username if job.user else None,
        created_at=job.created_at,
        finished_at=last_finished if progress.pending == 0 else None,  # type: ignore[arg-type]
        cancelled_at=job.cancelled_at,
        options=JobOptions(**job.options),
        progress=progress,
    )


def job_summary(session: Session, job: Job) -> JobSummary:
    progress, last = _progress(session, [job.id])[job.id]
    return _summary(job, progress, last)


def item_status(item: JobItem) -> JobItemStatus:
    return JobItemStatus(
        seq=item.seq,
        name=item.name,
        state=item.state,  # type: ignore[arg-type]
        size_bytes=item.size_bytes,
        analysis_id=item.analysis_id if item.state == "done" else None,
        verdict=item.verdict,  # type: ignore[arg-type]
        score_fake=item.score_fake,
        predicted_source=item.predicted_source,
        error_code=item.error_code,
        error=item.error,
        started_at=item.started_at,
        finished_at=item.finished_at,
    )


def job_detail(
    session: Session,
    job: Job,
    item_state: ItemState | None,
    page: int,
    page_size: int,
    verdict: Verdict | None = None,
) -> JobDetail:
    query = select(JobItem).where(JobItem.job_id == job.id)
    if item_state is not None:
        query = query.where(JobItem.state == item_state)
    if verdict is not None:
        query = query.where(JobItem.verdict == verdict)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(JobItem.seq).offset((page - 1) * page_size).limit(page_size))
    summary = job_summary(session, job)
    return JobDetail(
        **summary.model_dump(),
        items=[item_status(item) for item in items],
        items_total=total,
        page=page,
        page_size=page_size,
    )


def list_jobs(session: Session, viewer: Identity, page: int, page_size: int) -> JobPage:
    """The viewer's jobs, newest first, one page of them."""
    query = visible_jobs(select(Job), viewer)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    jobs = list(
        session.scalars(
            query.options(joinedload(Job.user))
            .order_by(Job.created_at.desc(), Job.id)
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    progress = _progress(session, [job.id for job in jobs])
    return JobPage(
        items=[_summary(job, *progress[job.id]) for job in jobs], total=total, page=page, page_size=page_size
    )


def items_after(session: Session, job_id: str, after_seq: int, limit: int) -> list[JobItem]:
    """The job's items after ``after_seq``, in order (for streaming results page by page)."""
    return list(
        session.scalars(
            select(JobItem)
            .where(JobItem.job_id == job_id, JobItem.seq > after_seq)
            .order_by(JobItem.seq)
            .limit(limit)
        )
    )
