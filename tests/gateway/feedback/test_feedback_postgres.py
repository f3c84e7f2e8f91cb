"""Feedback against a real PostgreSQL server (support/postgres.py): the one-per-user upsert under
concurrent first posts, and the agreement figures, through the functions the routes call."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from gateway.auth import accounts
from gateway.db.engine import Database
from gateway.db.migrate import upgrade
from gateway.db.models import Analysis, Feedback
from gateway.feedback.agreement import feedback_agreement
from gateway.feedback.schemas import FeedbackIn
from gateway.feedback.store import feedback_on, save_feedback
from gateway.history import queries
from support.postgres import running_postgres

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    with running_postgres() as server:
        database = Database(server.create_database("t_" + secrets.token_hex(6)))
        upgrade(database.engine)
        try:
            yield database
        finally:
            database.dispose()


def add_analysis(db: Database, user_id: int, verdict: str) -> str:
    analysis_id = uuid.uuid4().hex
    with db.session() as session:
        session.add(
            Analysis(
                id=analysis_id, user_id=user_id, sha256=secrets.token_hex(32), size_bytes=10,
                media_type="image", verdict=verdict, score_fake=0.9, confidence=0.8, method="average",
                threshold=0.5, detectors=[], degraded=False, missing=[], warnings=[], elapsed_ms=1.0,
            )
        )  # fmt: skip
    return analysis_id


def test_concurrent_first_posts_by_one_user_leave_one_feedback(db):
    with db.session() as session:
        identity = accounts.identity_of(accounts.register(session, "alice", "correct horse battery"), "token")
    analysis_id = add_analysis(db, identity.user_id, "fake")
    labels = ["real", "ai"] * 8

    def post(label: str) -> str:
        with db.session() as session:
            analysis = queries.get_analysis(session, identity, analysis_id)
            return save_feedback(session, analysis, identity, FeedbackIn(label=label)).label

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(post, labels))
    assert sorted(set(answers)) == ["ai", "real"]  # every post succeeded (no unique-constraint error)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Feedback)) == 1
        [current] = feedback_on(session, analysis_id)
        assert current.username == "alice" and current.label in ("real", "ai")
        ids = select(Analysis.id)
        agreement = feedback_agreement(session, ids)
    assert agreement.analyses == 1 and agreement.by_media_type["image"].analyses == 1
    assert agreement.rate == (1.0 if current.label == "ai" else 0.0)
