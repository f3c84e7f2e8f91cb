"""GET /stats: aggregates over the caller's analyses (an admin's: everyone's). GET /stats/drift: whether
the live scores still look like the training scores (gateway/drift.py), for the whole gateway.

Both answer what gateway/history/queries.py and gateway/drift.py compute, plus what the dashboard's
Stats page charts and those do not give, as added fields (nothing they answer changes):

- /stats: ``by_day``, verdicts per calendar day (days start at ``utc_offset_minutes``, so the dashboard
  can ask for the viewer's own days), per detector ``agreement``: how often its own call matched
  the fused verdict, and ``feedback``: how often verdicts agreed with what users said the files were
  (gateway/feedback/agreement.py);
- /stats/drift: per stream ``histogram``, the reference's PSI bins with the reference's and the live
  window's share of scores in each: the live score histogram against the reference, bin by bin.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Date, Interval, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from gateway.auth.identity import Identity
from gateway.db.models import Analysis, DetectorResult
from gateway.drift import FUSED_PREFIX, DriftMonitor, DriftReport, StreamDrift, StreamReference
from gateway.feedback.agreement import FeedbackAgreement, feedback_agreement
from gateway.history import queries
from gateway.history.schemas import DetectorStats, Stats
from gateway.history.scope import visible_to
from gateway.openapi import error_responses
from gateway.routes.deps import CallerDep, GatewayDep, caller
from gateway.routes.history import FiltersDep

router = APIRouter(tags=["history"], responses=error_responses(401, 403, 422))

# UTC-12 to UTC+14 are the offsets in use; a little room either side.
MAX_OFFSET_MINUTES = 15 * 60
UtcOffset = Annotated[
    int,
    Query(
        ge=-MAX_OFFSET_MINUTES,
        le=MAX_OFFSET_MINUTES,
        description="where by_day's days start: minutes east of UTC (120 for UTC+2, -300 for UTC-5); 0: UTC",
    ),
]


# GET /stats -----------------------------------------------------------------------------------------


class DayVerdicts(BaseModel):
    day: date = Field(description="a calendar day at utc_offset_minutes")
    total: int
    by_verdict: dict[str, int]


class Agreement(BaseModel):
    """A detector against the ensemble: its own call (fake when its P(fake) is at or over the analysis'
    threshold) next to the fused verdict, over the analyses it scored whose verdict was fake or real."""

    compared: int = Field(description="analyses it scored whose fused verdict was fake or real")
    agreed: int = Field(description="of those, the ones it called the same way")
    rate: float | None = Field(description="agreed / compared; null when nothing was compared")


class DetectorOverview(DetectorStats):
    agreement: Agreement


class StatsOverview(Stats):
    detectors: list[DetectorOverview]
    utc_offset_minutes: int = Field(description="the offset by_day's days start at")
    by_day: list[DayVerdicts] = Field(
        description="verdicts per day, oldest first; days without analyses left out"
    )
    feedback: FeedbackAgreement = Field(
        description="verdicts against the feedback users gave on them (each analysis with its latest)"
    )


def _local_day(session: Session, offset_minutes: int) -> ColumnElement:
    """Analysis.created_at as a calendar day ``offset_minutes`` east of UTC, on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        # timestamptz -> its UTC wall clock (whatever the server's TimeZone), shifted, then the date.
        utc = func.timezone("UTC", Analysis.created_at)
        return cast(utc + literal(timedelta(minutes=offset_minutes), Interval()), Date)
    # SQLite keeps the UTC wall clock as text, and date() takes a modifier.
    return func.date(Analysis.created_at, f"{offset_minutes:+d} minutes")


def verdicts_by_day(session: Session, ids, offset_minutes: int) -> list[DayVerdicts]:
    """Analyses per day and verdict among ``ids`` (a select of Analysis ids)."""
    rows = (
        select(_local_day(session, offset_minutes).label("day"), Analysis.verdict.label("verdict"))
        .where(Analysis.id.in_(ids))
        .subquery()
    )
    days: dict[date, dict[str, int]] = {}
    for day, verdict, count in session.execute(
        select(rows.c.day, rows.c.verdict, func.count()).group_by(rows.c.day, rows.c.verdict)
    ):
        key = day if isinstance(day, date) else date.fromisoformat(str(day))
        days.setdefault(key, {})[verdict] = count
    return [DayVerdicts(day=d, total=sum(v.values()), by_verdict=v) for d, v in sorted(days.items())]


def agreement_by_detector(session: Session, ids) -> dict[str, Agreement]:
    """Per detector, how often its own call matched the fused fake/real verdict among ``ids``."""
    says_fake = DetectorResult.prob_fake >= Analysis.threshold
    agreed = case(
        (and_(says_fake, Analysis.verdict == "fake"), 1),
        (and_(~says_fake, Analysis.verdict == "real"), 1),
        else_=0,
    )
    query = (
        select(DetectorResult.detector, func.count(), func.sum(agreed))
        .join(Analysis, DetectorResult.analysis_id == Analysis.id)
        .where(
            DetectorResult.analysis_id.in_(ids),
            DetectorResult.status == "ok",
            DetectorResult.prob_fake.is_not(None),
            Analysis.verdict.in_(("fake", "real")),
        )
        .group_by(DetectorResult.detector)
    )
    result = {}
    for name, compared, same in session.execute(query):
        same = int(same or 0)
        rate = round(same / compared, 4) if compared else None
        result[name] = Agreement(compared=compared, agreed=same, rate=rate)
    return result


def stats_overview(
    session: Session, viewer: Identity, filters: queries.HistoryFilters, offset_minutes: int = 0
) -> StatsOverview:
    base = queries.compute_stats(session, viewer, filters)
    scoped = filters.apply(visible_to(select(Analysis), viewer))
    ids = select(scoped.with_only_columns(Analysis.id).subquery().c.id)
    agreement = agreement_by_detector(session, ids)
    nothing = Agreement(compared=0, agreed=0, rate=None)
    return StatsOverview(
        **base.model_dump(exclude={"detectors"}),
        detectors=[
            DetectorOverview(**d.model_dump(), agreement=agreement.get(d.name, nothing))
            for d in base.detectors
        ],
        utc_offset_minutes=offset_minutes,
        by_day=verdicts_by_day(session, ids, offset_minutes),
        feedback=feedback_agreement(session, ids),
    )


@router.get("/stats")
def stats(
    identity: CallerDep, gateway: GatewayDep, filters: FiltersDep, utc_offset_minutes: UtcOffset = 0
) -> StatsOverview:
    """Counts by verdict, predicted source and media type, and per day; per detector, failure rate,
    latency and agreement with the fused verdict; agreement of verdicts with users' feedback."""
    with gateway.db.session() as session:
        return stats_overview(session, identity, filters, utc_offset_minutes)


# GET /stats/drift -----------------------------------------------------------------------------------


class ScoreBins(BaseModel):
    """The live score histogram against the reference, over the bins PSI is computed on: the reference's
    quantile bins (about equal training mass each, so the reference's shares are about even)."""

    edges: list[float] = Field(description="bin edges from 0 to 1 (one more than the bins)")
    reference: list[float] = Field(description="share of the reference's scores in each bin")
    window: list[float] | None = Field(
        description="share of the live window's scores in each bin; null when empty"
    )
    window_size: int = Field(description="live scores the window shares are of")


class StreamDriftBins(StreamDrift):
    histogram: ScoreBins | None = Field(description="null without a reference")


class DriftOverview(DriftReport):
    detectors: list[StreamDriftBins]
    fused: list[StreamDriftBins]


def score_bins(reference: StreamReference, scores: list[float]) -> ScoreBins:
    fine = len(reference.groups)  # equal-width bins of [0, 1]; groups maps each to its PSI bin
    edges = [0.0] + [
        round((i + 1) / fine, 6)
        for i in range(fine)
        if i + 1 == fine or reference.groups[i + 1] != reference.groups[i]
    ]
    total = reference.size
    return ScoreBins(
        edges=edges,
        reference=[round(c / total, 6) for c in reference.coarse_counts],
        window=[round(c / len(scores), 6) for c in reference.live_counts(scores)] if scores else None,
        window_size=len(scores),
    )


def drift_overview(monitor: DriftMonitor) -> DriftOverview:
    report = monitor.report()  # first: it may pick up a redeployed reference
    references, scores = monitor.references, monitor.live_scores()

    def with_bins(stream: StreamDrift, reference: StreamReference | None) -> StreamDriftBins:
        bins = score_bins(reference, scores.get(stream.name, [])) if reference and reference.size else None
        return StreamDriftBins(**stream.model_dump(), histogram=bins)

    return DriftOverview(
        **report.model_dump(exclude={"detectors", "fused"}),
        detectors=[with_bins(s, references.detectors.get(s.name)) for s in report.detectors],
        fused=[with_bins(s, references.fused.get(s.name.removeprefix(FUSED_PREFIX))) for s in report.fused],
    )


@router.get("/stats/drift", tags=["operations"], dependencies=[Depends(caller)])
def drift(request: Request) -> DriftOverview:
    """Per image detector and per fusion: PSI of the last scores against the training distribution,
    state (ok, drifted, insufficient_data), window and reference sizes, abstention and error rates, and
    the live score histogram against the reference over the PSI's bins."""
    return drift_overview(request.app.state.drift)
