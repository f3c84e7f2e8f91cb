"""How often verdicts agreed with the feedback given on them, for GET /stats.

An analysis counts once, with its latest feedback (several users may correct one analysis). A verdict
agrees when it said what the feedback says: ``fake`` for "AI-made", ``real`` for "real". An
``uncertain`` verdict neither agrees nor disagrees: it is counted on its own.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from gateway.db.models import Analysis, Feedback
from gateway.feedback.store import agrees


class AgreementCounts(BaseModel):
    analyses: int = Field(description="analyses with feedback")
    agreed: int = Field(description="the verdict said what the feedback says (fake: AI-made, real: real)")
    disagreed: int = Field(description="false_alarms + missed_ai")
    false_alarms: int = Field(description="verdict fake, feedback says real")
    missed_ai: int = Field(description="verdict real, feedback says AI-made")
    uncertain: int = Field(description="the verdict was uncertain: neither agreed nor disagreed")
    rate: float | None = Field(description="agreed / (agreed + disagreed); null when nothing was compared")


class FeedbackAgreement(AgreementCounts):
    by_media_type: dict[str, AgreementCounts]


def _counts(pairs: list[tuple[str, str]]) -> AgreementCounts:
    """Counts over (verdict, feedback label) pairs."""
    outcomes = [(verdict, agrees(verdict, label)) for verdict, label in pairs]
    agreed = sum(1 for _, same in outcomes if same is True)
    false_alarms = sum(1 for verdict, same in outcomes if same is False and verdict == "fake")
    missed_ai = sum(1 for verdict, same in outcomes if same is False and verdict == "real")
    compared = agreed + false_alarms + missed_ai
    return AgreementCounts(
        analyses=len(pairs),
        agreed=agreed,
        disagreed=false_alarms + missed_ai,
        false_alarms=false_alarms,
        missed_ai=missed_ai,
        uncertain=sum(1 for _, same in outcomes if same is None),
        rate=round(agreed / compared, 4) if compared else None,
    )


def feedback_agreement(session: Session, ids: Select) -> FeedbackAgreement:
    """Agreement between verdicts and feedback among ``ids`` (a select of Analysis ids), by media type."""
    rows = session.execute(
        select(Analysis.id, Analysis.media_type, Analysis.verdict, Feedback.label)
        .join(Feedback, Feedback.analysis_id == Analysis.id)
        .where(Analysis.id.in_(ids))
        .order_by(Feedback.updated_at, Feedback.id)
    )
    latest: dict[str, tuple[str, str, str]] = {}
    for analysis_id, media_type, verdict, label in rows:
        latest[analysis_id] = (media_type, verdict, label)  # later rows (newer feedback) win
    by_media: dict[str, list[tuple[str, str]]] = {}
    for media_type, verdict, label in latest.values():
        by_media.setdefault(media_type, []).append((verdict, label))
    overall = _counts([pair for pairs in by_media.values() for pair in pairs])
    return FeedbackAgreement(
        **overall.model_dump(),
        by_media_type={media: _counts(pairs) for media, pairs in sorted(by_media.items())},
    )
