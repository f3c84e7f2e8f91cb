"""History group commit and retention against a real PostgreSQL server (support/postgres.py): concurrent
saves share transactions, a row the server refuses costs only its own save, and retention deletes by
age and by count (the server runs at +05:45, so a boundary computed in the wrong zone shows)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text

from gateway.db.engine import Database
from gateway.db.migrate import upgrade
from gateway.db.models import Analysis, DetectorResult, utcnow
from gateway.history.recorder import HistoryEntry, HistoryRecorder
from gateway.history.retention import HistoryRetention, RetentionPolicy
from support.answers import make_answer
from support.postgres import PostgresServer, running_postgres
from tribunal_sdk.client import DetectorOutcome, DetectorStatus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with running_postgres() as running:
        yield running


@pytest.fixture
def db(server: PostgresServer) -> Iterator[Database]:
    database = Database(server.create_database("h_" + secrets.token_hex(6)))
    upgrade(database.engine)
    try:
        yield database
    finally:
        database.dispose()


def entry(filename: str = "p.png", hours_ago: float = 0.0) -> HistoryEntry:
    answer = make_answer(
        verdict="real",
        score_fake=0.2,
        detectors=[DetectorOutcome(name="det0", status=DetectorStatus.OK, prob_fake=0.2, elapsed_ms=3.0)],
        elapsed_ms=9.0,
    )
    return HistoryEntry(
        answer, b"x" * 10, None, filename, None, created_at=utcnow() - timedelta(hours=hours_ago)
    )


def ids_in(db: Database) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(Analysis.id)))


async def test_concurrent_saves_share_transactions_and_a_refused_row_fails_alone(db, tmp_path):
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "ALTER TABLE analyses ADD CONSTRAINT no_poison CHECK (filename IS NULL OR filename <> 'poison.png')"
            )
        )
    commits = []
    event.listen(db.engine, "commit", lambda _conn: commits.append(1))
    recorder = HistoryRecorder(db, tmp_path, keep_uploads=False, batch_rows=32)
    entries = [entry(f"p{i}.png") for i in range(100)]
    entries[57] = entry("poison.png")
    outcomes = await asyncio.gather(*(recorder.save(e) for e in entries), return_exceptions=True)

    refused = [i for i, outcome in enumerate(outcomes) if outcome is not None]
    assert refused == [57]
    assert type(outcomes[57]).__name__ == "IntegrityError"
    assert ids_in(db) == {e.answer.id for i, e in enumerate(entries) if i != 57}
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DetectorResult)) == 99
    # 100 rows in batches of at most 32 (4 or more batches); the batch holding the refused row was
    # retried row by row, one transaction each.
    assert recorder.batches.batches >= 4
    assert len(commits) < 100


def test_retention_by_age_and_by_count(db, tmp_path):
    recorder = HistoryRecorder(db, tmp_path, keep_uploads=False)
    entries = [entry(hours_ago=24 * day + 1) for day in range(10)]  # 1 h, 1 d 1 h, ..., 9 d 1 h old
    assert recorder.write(entries) == [None] * 10
    ids = [e.answer.id for e in entries]

    assert HistoryRetention(db, tmp_path, RetentionPolicy(max_age_days=5), batch_rows=2).sweep() == 5
    assert ids_in(db) == set(ids[:5])
    assert HistoryRetention(db, tmp_path, RetentionPolicy(max_rows=2), batch_rows=2).sweep() == 3
    assert ids_in(db) == set(ids[:2])
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DetectorResult)) == 2
