"""History retention on a real SQLite file: by age, by row count, both; in small batches that let new
rows through between them; and the gateway's start-up sweep when a limit is set (none by default)."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from gateway.app import create_app
from gateway.db.engine import Database
from gateway.db.migrate import upgrade
from gateway.db.models import Analysis, DetectorResult, utcnow
from gateway.history.recorder import HistoryEntry, HistoryRecorder
from gateway.history.retention import HistoryRetention, RetentionPolicy
from gateway.history.uploads import upload_path
from gateway.settings import SettingsError, load_settings
from support.answers import make_answer

pytestmark = pytest.mark.timeout(120)

NOW = datetime.fromisoformat("2026-06-01T12:00:00+00:00")


def add_rows(recorder: HistoryRecorder, png: bytes, created: list[datetime]) -> list[str]:
    """One row (with its detector rows and kept file) per time in ``created``; their ids, in that order."""
    entries = [HistoryEntry(make_answer(), png, None, "p.png", None, created_at=at) for at in created]
    assert recorder.write(entries) == [None] * len(entries)
    return [entry.answer.id for entry in entries]


def aged(days: list[float]) -> list[datetime]:
    return [NOW - timedelta(days=d) for d in days]


def kept(db: Database) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(Analysis.id)))


def assert_only(db: Database, data_dir, ids: set[str], gone: set[str]) -> None:
    """Exactly ``ids`` remain, each with its detector rows and file; ``gone`` left nothing behind."""
    with db.session() as session:
        assert set(session.scalars(select(Analysis.id))) == ids
        assert set(session.scalars(select(DetectorResult.analysis_id).distinct())) == ids
        paths = dict(session.execute(select(Analysis.id, Analysis.stored_path)).all())
    assert all(upload_path(data_dir, paths[i]) is not None for i in ids)
    uploads = {path.stem for path in (data_dir / "uploads").rglob("*.png")}
    assert uploads == ids and not uploads & gone


def test_by_age_deletes_what_is_older_and_leaves_the_rest(db, recorder, gw):
    ids = add_rows(recorder, gw.image(), aged([i + 0.5 for i in range(20)]))
    retention = HistoryRetention(db, recorder.data_dir, RetentionPolicy(max_age_days=10))
    assert retention.sweep(NOW) == 10
    assert_only(db, recorder.data_dir, set(ids[:10]), set(ids[10:]))
    assert retention.sweep(NOW) == 0  # nothing left past the limit


def test_by_count_keeps_the_newest_rows(db, recorder, gw):
    ids = add_rows(recorder, gw.image(), aged([i + 0.5 for i in range(20)]))
    retention = HistoryRetention(db, recorder.data_dir, RetentionPolicy(max_rows=7))
    assert retention.sweep(NOW) == 13
    assert_only(db, recorder.data_dir, set(ids[:7]), set(ids[7:]))
    assert retention.sweep(NOW) == 0


def test_by_count_with_equal_times_keeps_exactly_the_limit(db, recorder, gw):
    ids = add_rows(recorder, gw.image(), aged([1, 2, 2, 2, 2, 3]))
    retention = HistoryRetention(db, recorder.data_dir, RetentionPolicy(max_rows=3), batch_rows=2)
    assert retention.sweep(NOW) == 3
    survivors = kept(db)
    assert len(survivors) == 3 and ids[0] in survivors and ids[5] not in survivors


def test_either_limit_deletes(db, recorder, gw):
    ids = add_rows(recorder, gw.image(), aged([i + 0.5 for i in range(20)]))
    both = HistoryRetention(db, recorder.data_dir, RetentionPolicy(max_age_days=15, max_rows=12))
    assert both.sweep(NOW) == 8  # the count limit is the stricter one here
    assert kept(db) == set(ids[:12])
    both = HistoryRetention(db, recorder.data_dir, RetentionPolicy(max_age_days=5, max_rows=12))
    assert both.sweep(NOW) == 7  # and the age limit here
    assert_only(db, recorder.data_dir, set(ids[:5]), set(ids[5:]))


def test_no_limit_deletes_nothing(db, recorder, gw):
    ids = add_rows(recorder, gw.image(), aged([400, 4000]))
    retention = HistoryRetention(db, recorder.data_dir, RetentionPolicy())
    assert not retention.policy.enabled
    assert retention.sweep(NOW) == 0
    assert kept(db) == set(ids)


def test_each_batch_is_its_own_small_transaction(db, recorder, gw):
    add_rows(recorder, gw.image(), aged([i + 0.5 for i in range(20)]))
    deleted_per_transaction: list[int] = []
    counter = {"open": 0}

    def executed(_conn, clause, *_args) -> None:  # type: ignore[no-untyped-def]
        if getattr(clause, "table", None) is Analysis.__table__ and clause.is_delete:
            counter["open"] += 1

    def committed(_conn) -> None:  # type: ignore[no-untyped-def]
        if counter["open"]:
            deleted_per_transaction.append(counter["open"])
        counter["open"] = 0

    event.listen(db.engine, "after_execute", executed)
    event.listen(db.engine, "commit", committed)
    retention = HistoryRetention(db, recorder.data_dir, RetentionPolicy(max_rows=7), batch_rows=3)
    assert retention.sweep(NOW) == 13
    assert deleted_per_transaction == [1] * 5  # ceil(13 / 3) transactions, one DELETE of analyses each
    assert len(kept(db)) == 7


async def test_new_rows_are_written_between_delete_batches_and_never_swept(db, recorder, gw):
    png = gw.image()
    old = add_rows(recorder, png, [utcnow() - timedelta(days=30 + i) for i in range(12)])
    retention = HistoryRetention(db, recorder.data_dir, RetentionPolicy(max_rows=2), batch_rows=2)
    first_delete, release = threading.Event(), threading.Event()

    def hold_first_delete(_conn, clause, *_args) -> None:  # type: ignore[no-untyped-def]
        if clause.is_delete and not first_delete.is_set():
            first_delete.set()
            assert release.wait(10)

    event.listen(db.engine, "before_execute", hold_first_delete)
    sweep = asyncio.create_task(retention.sweep_between(recorder.batches))
    while not first_delete.is_set():
        await asyncio.sleep(0.005)
    fresh = [HistoryEntry(make_answer(), png, None, "new.png", None) for _ in range(3)]
    saves = [asyncio.create_task(recorder.save(entry)) for entry in fresh]
    await asyncio.sleep(0.02)
    release.set()
    await asyncio.gather(*saves)
    # The new rows went in after the first delete batch, not after the whole sweep.
    assert not sweep.done()
    assert await sweep == 10  # the rows answered during the sweep do not count against the limit
    assert kept(db) == set(old[:2]) | {entry.answer.id for entry in fresh}


def test_the_settings_are_off_by_default_and_validated(monkeypatch, tmp_path):
    settings = load_settings(data_dir=tmp_path)
    assert settings.history_max_age_days is None and settings.history_max_rows is None
    monkeypatch.setenv("TRIBUNAL_HISTORY_MAX_AGE_DAYS", "30")
    monkeypatch.setenv("TRIBUNAL_HISTORY_MAX_ROWS", "100000")
    settings = load_settings(data_dir=tmp_path)
    assert (settings.history_max_age_days, settings.history_max_rows) == (30.0, 100_000)
    with pytest.raises(SettingsError, match="history_max_rows"):
        load_settings(data_dir=tmp_path, history_max_rows=0)
    with pytest.raises(SettingsError, match="history_batch_rows"):
        load_settings(data_dir=tmp_path, history_batch_rows=0)


@pytest.mark.parametrize("limit", [None, 3])
async def test_the_gateway_sweeps_at_start_up_when_a_limit_is_set(tmp_path, gw, limit):
    data_dir = tmp_path / "data"
    database = Database(f"sqlite:///{data_dir / 'tribunal.db'}")
    upgrade(database.engine)
    ids = add_rows(
        HistoryRecorder(database, data_dir, keep_uploads=False),
        gw.image(),
        [utcnow() - timedelta(hours=h) for h in range(10)],
    )
    database.dispose()

    app = create_app(gw.settings(data_dir=data_dir, history_max_rows=limit), gw.registry("a"))
    db = app.state.gateway.db
    async with app.router.lifespan_context(app):
        if limit is None:
            await asyncio.sleep(0.2)
        else:
            for _ in range(400):
                if len(kept(db)) == limit:
                    break
                await asyncio.sleep(0.01)
        survivors = kept(db)
    assert survivors == (set(ids) if limit is None else set(ids[:limit]))
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DetectorResult)) == 2 * len(survivors)
