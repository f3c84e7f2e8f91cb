"""Feedback rows: one current feedback per (analysis, user); saving again replaces it."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.auth.identity import Identity
from gateway.db.models import Analysis, Feedback, utcnow
from gateway.feedback.errors import NoFeedback
from gateway.feedback.schemas import FeedbackIn, FeedbackOut

log = logging.getLogger("gateway.feedback")

# The databases the gateway runs on both say INSERT ... ON CONFLICT DO UPDATE.
_UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def agrees(verdict: str, label: str) -> bool | None:
    """Whether a verdict said what the feedback says: fake for 'ai', real for 'real'; None when uncertain."""
    if verdict not in ("fake", "real"):
        return None
    return (verdict == "fake") == (label == "ai")


def feedback_out(row: Feedback) -> FeedbackOut:
    return FeedbackOut(
        analysis_id=row.analysis_id,
        username=row.user.username,
        label=row.label,  # type: ignore[arg-type]  # only "real" / "ai" are ever written
        generator=row.generator,
        note=row.note,
        verdict=row.analysis.verdict,
        agrees=agrees(row.analysis.verdict, row.label),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _mine(session: Session, analysis_id: str, user_id: int) -> Feedback | None:
    return session.scalar(
        select(Feedback).where(Feedback.analysis_id == analysis_id, Feedback.user_id == user_id)
    )


def save_feedback(session: Session, analysis: Analysis, author: Identity, given: FeedbackIn) -> FeedbackOut:
    """Record ``author``'s feedback on ``analysis`` (which they may see), replacing their earlier one."""
    assert author.user_id is not None, "feedback needs a signed-in user"
    now = utcnow()
    values = {"label": given.label, "generator": given.generator, "note": given.note, "updated_at": now}
    insert = _UPSERTS.get(session.get_bind().dialect.name)
    if insert is not None:
        # One statement: two first posts racing by the same user cannot both insert.
        statement = insert(Feedback).values(
            analysis_id=analysis.id, user_id=author.user_id, created_at=now, **values
        )
        session.execute(
            statement.on_conflict_do_update(index_elements=["analysis_id", "user_id"], set_=values)
        )
    else:
        row = _mine(session, analysis.id, author.user_id)
        if row is None:
            row = Feedback(analysis_id=analysis.id, user_id=author.user_id, created_at=now)
            session.add(row)
        for key, value in values.items():
            setattr(row, key, value)
        session.flush()
    row = _mine(session, analysis.id, author.user_id)
    assert row is not None
    session.refresh(row)
    log.info(
        "feedback saved",
        extra={
            "fields": {
                "analysis_id": analysis.id,
                "user": author.username,
                "label": given.label,
                "generator": given.generator,
                "verdict": analysis.verdict,
            }
        },
    )
    return feedback_out(row)


def get_feedback(session: Session, analysis: Analysis, author: Identity) -> FeedbackOut:
    row = _mine(session, analysis.id, author.user_id) if author.user_id is not None else None
    if row is None:
        raise NoFeedback(analysis.id)
    return feedback_out(row)


def delete_feedback(session: Session, analysis: Analysis, author: Identity) -> None:
    row = _mine(session, analysis.id, author.user_id) if author.user_id is not None else None
    if row is None:
        raise NoFeedback(analysis.id)
    session.delete(row)
    session.flush()
    log.info("feedback withdrawn", extra={"fields": {"analysis_id": analysis.id, "user": author.username}})


def feedback_on(session: Session, analysis_id: str) -> list[FeedbackOut]:
    """Every user's current feedback on one analysis, latest first (what GET /history/{id} shows)."""
    rows = session.scalars(
        select(Feedback)
        .where(Feedback.analysis_id == analysis_id)
        .order_by(Feedback.updated_at.desc(), Feedback.id.desc())
    )
    return [feedback_out(row) for row in rows]
