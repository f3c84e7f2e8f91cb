"""Fixtures of the history tests: a migrated SQLite file and a recorder on it."""

from __future__ import annotations

import pytest

from gateway.db.engine import Database
from gateway.db.migrate import upgrade
from gateway.history.recorder import HistoryRecorder


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'data' / 'tribunal.db'}")
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def recorder(db, tmp_path) -> HistoryRecorder:
    return HistoryRecorder(db, tmp_path / "data", keep_uploads=True)
