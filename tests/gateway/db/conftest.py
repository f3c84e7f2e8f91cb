"""Shared by the database tests: rows to put in a database at an older revision before upgrading it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, select

from gateway.db.models import Analysis, ApiKey, DetectorResult, User

APP_TABLES = (User.__table__, ApiKey.__table__, Analysis.__table__, DetectorResult.__table__)
LARGEST_INT32 = 2**31 - 1


def fill_with_history(engine: Engine) -> None:
    """Two accounts, a key, three analyses (one anonymous) and their detector rows, written with Core
    statements that fit every revision so far (revision 0001 already has each of these columns)."""
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    users = [
        {"id": 1, "username": "alice", "password_hash": "h1", "role": "admin", "disabled": False},
        {"id": 2, "username": "bob", "password_hash": "h2", "role": "user", "disabled": True},
    ]
    keys = [
        {
            "id": 1,
            "user_id": 2,
            "name": "nightly",
            "prefix": "trb_abc",
            "key_hash": "k" * 64,
            "created_at": when,
            "last_used_at": when + timedelta(hours=1),
            "revoked_at": None,
        }
    ]
    analyses = [
        {
            "id": f"a{i}",
            "user_id": owner,
            "created_at": when + timedelta(minutes=i),
            "filename": f"photo{i}.png" if owner else None,
            "sha256": f"{i}" * 64,
            "size_bytes": size,
            "media_type": "image",
            "verdict": "fake" if i % 2 else "real",
            "score_fake": 0.25 * i if i else None,
            "confidence": 0.5,
            "method": "average",
            "threshold": 0.5,
            "predicted_source": "sim_gan" if i == 1 else None,
            "attribution": {"predicted_source": "sim_gan", "probs": {"sim_gan": 0.9}} if i == 1 else None,
            "detectors": [{"name": "det0", "status": "ok", "prob_fake": 0.7}],
            "degraded": i == 2,
            "missing": ["det9"] if i == 2 else [],
            "warnings": ["slow"] if i == 0 else [],
            "elapsed_ms": 10.5 + i,
            "request_id": f"rid-{i}",
            "stored_path": f"uploads/a{i}" if i == 0 else None,
        }
        for i, (owner, size) in enumerate([(1, 0), (2, LARGEST_INT32), (None, 12_345)])
    ]
    results = [
        {
            "id": 10 * a + d + 1,
            "analysis_id": f"a{a}",
            "detector": f"det{d}",
            "status": "ok" if d else "error",
            "prob_fake": 0.1 * (a + d) if d else None,
            "elapsed_ms": 3.0 + d,
        }
        for a in range(3)
        for d in range(2)
    ]
    with engine.begin() as connection:
        for table, rows in zip(APP_TABLES, (users, keys, analyses, results), strict=True):
            connection.execute(table.insert(), rows)


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of the gateway's tables, in primary-key order."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in APP_TABLES
        }


@pytest.fixture
def history_rows() -> SimpleNamespace:
    """``history_rows.fill(engine)`` and ``history_rows.snapshot(engine)``."""
    return SimpleNamespace(fill=fill_with_history, snapshot=snapshot)
