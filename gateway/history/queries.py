"""History reads for one viewer: paged lists with filters, one analysis, deletion, aggregates."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from gateway.attribution import public_class, public_class_probs, public_detector_result
from gateway.auth.identity import Identity
from gateway.db.models import Analysis, DetectorResult, User
from gateway.errors import NotFound
from gateway.feedback.schemas import FeedbackOut
from gateway.history.schemas import (
    DetectorStats,
    HistoryDetail,
    HistoryItem,
    HistoryPage,
    LatencySummary,
    Stats,
)
from gateway.history.scope import visible_to
from gateway.history.uploads import delete_upload

FAILED_STATUSES = ("timeout", "error", "unavailable")
ANSWERED_STATUSES = ("ok", "abstained")


@dataclass(frozen=True)
class HistoryFilters:
    verdict: str | None = None
    media_type: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    username: str | None = None  # narrows an admin's view to one user

    def apply(self, query: Select) -> Select:
        if self.verdict:
            query = query.where(Analysis.verdict == self.verdict)
        if self.media_type:
            query = query.where(Analysis.media_type == self.media_type)
        if self.since:
            query = query.where(Analysis.created_at >= self.since)
        if self.until:
            query = query.where(Analysis.created_at < self.until)
        if self.username:
            query = query.join(User, Analysis.user_id == User.id).where(
                User.username == self.username.strip().lower()
            )
        return query


def public_source(name: str | None) -> str | None:
    """A recorded ``predicted_source`` as users see it today. Rows written before answers used public
    names only may hold a training class (``sim_*`` -> ``unknown_ai``); /history and /stats read every
    source through this."""
    return None if name is None else public_class(name)


def _public_attribution(attribution: dict | None) -> dict | None:
    if not attribution:
        return attribution
    public = dict(attribution)
    if isinstance(public.get("predicted_source"), str):
        public["predicted_source"] = public_source(public["predicted_source"])
    if isinstance(public.get("probs"), dict):
        public["probs"] = public_class_probs(public["probs"])
    return public


def _item_fields(row: Analysis) -> dict:
    return {
        "id": row.id,
        "created_at": row.created_at,
        "username": row.user.username if row.user else None,
        "filename": row.filename,
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "media_type": row.media_type,
        "verdict": row.verdict,
        "score_fake": row.score_fake,
        "confidence": row.confidence,
        "method": row.method,
        "predicted_source": public_source(row.predicted_source),
        "degraded": row.degraded,
        "elapsed_ms": row.elapsed_ms,
        "has_file": row.stored_path is not None,
    }


def list_history(
    session: Session, viewer: Identity, filters: HistoryFilters, page: int, page_size: int
) -> HistoryPage:
    """The viewer's analyses matching ``filters``, newest first, one page of them."""
    query = filters.apply(visible_to(select(Analysis), viewer))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Analysis.created_at.desc(), Analysis.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    items = [HistoryItem(**_item_fields(row)) for row in rows]
    return HistoryPage(items=items, total=total, page=page, page_size=page_size)


def get_analysis(session: Session, viewer: Identity, analysis_id: str) -> Analysis:
    """The analysis if the viewer may see it; NotFound otherwise, whether it exists or not."""
    row = session.scalar(visible_to(select(Analysis), viewer).where(Analysis.id == analysis_id))
    if row is None:
        raise NotFound(f"no analysis {analysis_id!r} in your history")
    return row


def analysis_detail(row: Analysis, feedback: Sequence[FeedbackOut] = ()) -> HistoryDetail:
    return HistoryDetail(
        **_item_fields(row),
        threshold=row.threshold,
        attribution=_public_attribution(row.attribution),
        detectors=[public_detector_result(result) for result in row.detectors],
        missing=row.missing,
        warnings=row.warnings,
        request_id=row.request_id,
        feedback=list(feedback),
    )


def delete_analysis(session: Session, viewer: Identity, analysis_id: str, data_dir: Path) -> None:
    row = get_analysis(session, viewer, analysis_id)
    stored = row.stored_path
    session.delete(row)
    session.flush()
    delete_upload(data_dir, stored)


def _counts(
    session: Session,
    column: Any,
    scoped: Select,
    rename: Callable[[str], str | None] = lambda key: key,
) -> dict[str, int]:
    """Rows per value of ``column`` (null as "none"); values that ``rename`` merges are added up."""
    ids = scoped.with_only_columns(Analysis.id).subquery()
    query = select(column, func.count()).where(Analysis.id.in_(select(ids.c.id))).group_by(column)
    counts: dict[str, int] = {}
    for key, count in session.execute(query):
        name = (None if key is None else rename(str(key))) or "none"
        counts[name] = counts.get(name, 0) + count
    return counts


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 3)


def compute_stats(session: Session, viewer: Identity, filters: HistoryFilters) -> Stats:
    """Counts by verdict, source and media type, and per-detector failure rates and latency."""
    scoped = filters.apply(visible_to(select(Analysis), viewer))
    total = session.scalar(select(func.count()).select_from(scoped.subquery())) or 0
    ids = select(scoped.with_only_columns(Analysis.id).subquery().c.id)

    status_counts: dict[str, dict[str, int]] = {}
    for name, status, count in session.execute(
        select(DetectorResult.detector, DetectorResult.status, func.count())
        .where(DetectorResult.analysis_id.in_(ids))
        .group_by(DetectorResult.detector, DetectorResult.status)
    ):
        status_counts.setdefault(name, {})[status] = count
    latencies: dict[str, list[float]] = {}
    for name, elapsed in session.execute(
        select(DetectorResult.detector, DetectorResult.elapsed_ms).where(
            DetectorResult.analysis_id.in_(ids),
            DetectorResult.status.in_(ANSWERED_STATUSES),
            DetectorResult.elapsed_ms.is_not(None),
        )
    ):
        latencies.setdefault(name, []).append(elapsed)

    detectors = []
    for name in sorted(status_counts):
        by_status = status_counts[name]
        calls = sum(count for status, count in by_status.items() if status != "skipped")
        failed = sum(by_status.get(status, 0) for status in FAILED_STATUSES)
        values = latencies.get(name, [])
        detectors.append(
            DetectorStats(
                name=name,
                calls=calls,
                by_status=by_status,
                failure_rate=round(failed / calls, 4) if calls else None,
                latency_ms=LatencySummary(
                    mean=round(statistics.fmean(values), 3) if values else None,
                    p50=_percentile(values, 50),
                    p95=_percentile(values, 95),
                ),
            )
        )
    return Stats(
        total=total,
        by_verdict=_counts(session, Analysis.verdict, scoped),
        by_source=_counts(session, Analysis.predicted_source, scoped, rename=public_source),
        by_media_type=_counts(session, Analysis.media_type, scoped),
        detectors=detectors,
    )
