"""The database layer against a real PostgreSQL server (started by the test; see support/postgres.py).

Migrations, accounts, API keys, history scoping, timestamps and concurrent writes, each run through
the same functions the gateway's routes call. The server runs in a +05:45 time zone on purpose.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, func, inspect, select, text

from gateway.auth import accounts
from gateway.auth.errors import InvalidApiKey, UsernameTaken, WrongCredentials
from gateway.auth.identity import ANONYMOUS, Identity
from gateway.db.engine import Database
from gateway.db.migrate import current_revision, upgrade
from gateway.db.models import Analysis, ApiKey, Base, DetectorResult, User
from gateway.errors import NotFound
from gateway.history import queries
from gateway.history.recorder import HistoryRecorder
from gateway.registry import REPO_ROOT
from gateway.schemas import DetectionAnswer
from support.postgres import SERVER_TIMEZONE, PostgresServer, running_postgres
from tribunal_sdk.client import DetectorOutcome, DetectorStatus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# Every table the models declare, plus alembic's own: what the migrations must create.
TABLES = set(Base.metadata.tables) | {"alembic_version"}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with running_postgres() as running:
        yield running


@pytest.fixture
def empty_url(server: PostgresServer) -> str:
    """A new, empty database on the shared server (no schema yet)."""
    return server.create_database("t_" + secrets.token_hex(6))


@pytest.fixture
def db(empty_url: str) -> Iterator[Database]:
    """A new database migrated the way the gateway migrates at start-up."""
    database = Database(empty_url)
    upgrade(database.engine)
    try:
        yield database
    finally:
        database.dispose()


def as_viewer(user: User) -> Identity:
    return accounts.identity_of(user, "token")


def make_answer(verdict: str = "fake", score: float = 0.8, detectors: int = 2) -> DetectionAnswer:
    return DetectionAnswer(
        id=uuid.uuid4().hex,
        sha256=secrets.token_hex(32),
        media_type="image",
        verdict=verdict,
        score_fake=score,
        confidence=0.6,
        method="average",
        threshold=0.5,
        attribution=None,
        detectors=[
            DetectorOutcome(name=f"det{i}", status=DetectorStatus.OK, prob_fake=score, elapsed_ms=5.0 + i)
            for i in range(detectors)
        ],
        degraded=False,
        missing=[],
        warnings=[],
        elapsed_ms=12.5,
    )


def record(recorder: HistoryRecorder, user_id: int | None, **answer) -> str:
    made = make_answer(**answer)
    recorder.record(made, data=b"x" * 10, user_id=user_id, filename="photo.png", request_id="rid-1")
    return made.id


def add_users(db: Database, *names: str) -> dict[str, User]:
    with db.session() as session:
        return {name: accounts.register(session, name, PASSWORD) for name in names}


# Migrations ---------------------------------------------------------------------------------------


def test_the_migrations_build_the_schema_and_match_the_models_on_postgresql(empty_url, server):
    """The start-up path (upgrade on the gateway's engine) on an empty PostgreSQL database, twice."""
    database = Database(empty_url)
    try:
        assert current_revision(database.engine) is None
        upgrade(database.engine)
        assert set(inspect(database.engine).get_table_names()) == TABLES
        head = current_revision(database.engine)
        assert head is not None
        upgrade(database.engine)  # a second start changes nothing
        assert current_revision(database.engine) == head
        with database.engine.connect() as connection:
            # PostgreSQL's own column types, compared with the models: a model changed without a
            # migration, or a type SQLite lets through, shows up here.
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            kinds = dict(
                connection.execute(
                    text(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'analyses'"
                    )
                ).all()
            )
        assert kinds["created_at"] == "timestamp with time zone"
        assert kinds["detectors"] == "json" and kinds["score_fake"] == "double precision"
    finally:
        database.dispose()

    # By hand, as the docs say (python -m gateway.db): it finds the revision and never prints the password.
    done = subprocess.run(
        [sys.executable, "-m", "gateway.db", "current", "--url", empty_url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"at revision {head}" in done.stdout and "***" in done.stdout
    assert server.password not in done.stdout + done.stderr
    assert quote(server.password, safe="") not in done.stdout + done.stderr


def test_upgrading_a_0001_postgresql_database_widens_size_bytes_and_keeps_every_row(empty_url, history_rows):
    """Revision 0001 made analyses.size_bytes a 32-bit INTEGER; 0002 makes it BIGINT in place."""
    database = Database(empty_url)
    try:
        upgrade(database.engine, "0001")
        history_rows.fill(database.engine)
        before = history_rows.snapshot(database.engine)
        upgrade(database.engine)
        assert current_revision(database.engine) != "0001"
        assert history_rows.snapshot(database.engine) == before
        with database.engine.connect() as connection:
            size_type = connection.scalar(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'analyses' AND column_name = 'size_bytes'"
                )
            )
            assert size_type == "bigint"
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        database.dispose()


# Accounts and API keys ----------------------------------------------------------------------------


def test_accounts_and_api_keys_on_postgresql(db, tmp_path):
    users = add_users(db, "alice", "bob", "carol")
    assert [users[n].role for n in ("alice", "bob", "carol")] == ["admin", "user", "user"]
    with pytest.raises(UsernameTaken), db.session() as session:
        accounts.register(session, "  BOB ", PASSWORD)  # usernames are case-insensitive
    with db.session() as session:
        assert accounts.authenticate(session, "Bob", PASSWORD).id == users["bob"].id
        with pytest.raises(WrongCredentials):
            accounts.authenticate(session, "bob", PASSWORD + "!")
        with pytest.raises(WrongCredentials):
            accounts.authenticate(session, "nobody-here", PASSWORD)
        assert accounts.count_users(session) == 3

    with db.session() as session:
        bob_key, bob_plain = accounts.create_api_key(session, users["bob"].id, "nightly batch")
        _, carol_plain = accounts.create_api_key(session, users["carol"].id, ("ünïcode✓" * 13)[:100])
    before = datetime.now(UTC)
    with db.session() as session:
        identity = accounts.identity_from_api_key(session, bob_plain.plaintext)
        assert (identity.user_id, identity.username, identity.via) == (users["bob"].id, "bob", "api_key")
        assert accounts.identity_from_api_key(session, carol_plain.plaintext).username == "carol"
    with db.session() as session:
        keys = accounts.list_api_keys(session, users["bob"].id)
        assert [k.name for k in keys] == ["nightly batch"]
        used = keys[0].last_used_at
        assert used is not None and used.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=5) <= used <= datetime.now(UTC) + timedelta(seconds=5)
        # 100 characters, more than 100 bytes, fit VARCHAR(100): PostgreSQL counts characters.
        assert len(accounts.list_api_keys(session, users["carol"].id)[0].name) == 100
        with pytest.raises(NotFound):
            accounts.revoke_api_key(session, users["carol"].id, bob_key.id)  # not carol's key
        accounts.revoke_api_key(session, users["bob"].id, bob_key.id)
    with pytest.raises(InvalidApiKey), db.session() as session:
        accounts.identity_from_api_key(session, bob_plain.plaintext)

    # Deleting an account deletes its keys and its history (ON DELETE CASCADE, enforced by the server).
    recorder = HistoryRecorder(db, tmp_path, keep_uploads=False)
    record(recorder, users["carol"].id)
    with db.session() as session:
        session.delete(session.get(User, users["carol"].id))
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 1
        assert session.scalar(select(func.count()).select_from(Analysis)) == 0
        assert session.scalar(select(func.count()).select_from(DetectorResult)) == 0


def test_concurrent_first_sign_ups_make_exactly_one_admin(empty_url):
    """The first account is the admin. SQLite's single writer made that hold by itself; on PostgreSQL
    sign-ups racing on an empty database each counted no earlier account and all became admins."""
    racers = 6
    # Hold every sign-up just after its INSERT until all have inserted (or 1.5 s passed): the race
    # then happens on every run instead of now and then.
    all_inserted = threading.Barrier(racers, timeout=1.5)

    def hold(*_: object) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            all_inserted.wait()

    database = Database(empty_url)
    upgrade(database.engine)
    event.listen(User, "after_insert", hold)
    try:

        def sign_up(i: int) -> str:
            with database.session() as session:
                return accounts.register(session, f"racer{i}", PASSWORD).role

        with ThreadPoolExecutor(racers) as pool:
            roles = list(pool.map(sign_up, range(racers), timeout=60))
        assert sorted(roles) == ["admin"] + ["user"] * (racers - 1), roles
        with database.session() as session:
            first = session.scalar(select(User).order_by(User.id).limit(1))
            assert first is not None and first.role == "admin"  # the admin is the oldest account
    finally:
        event.remove(User, "after_insert", hold)
        database.dispose()


# History -----------------------------------------------------------------------------------------


def test_history_rows_are_visible_only_to_their_owner(db, tmp_path):
    users = add_users(db, "alice", "bob", "carol")  # alice is the admin
    recorder = HistoryRecorder(db, tmp_path, keep_uploads=False)
    mine = {
        "bob": {record(recorder, users["bob"].id, verdict="fake") for _ in range(3)},
        "carol": {record(recorder, users["carol"].id, verdict="real", score=0.1) for _ in range(2)},
        None: {record(recorder, None)},  # auth off, nobody signed in
    }
    bob, carol, alice = as_viewer(users["bob"]), as_viewer(users["carol"]), as_viewer(users["alice"])
    nothing = queries.HistoryFilters()
    with db.session() as session:
        page = queries.list_history(session, bob, nothing, page=1, page_size=100)
        assert page.total == 3 and {item.id for item in page.items} == mine["bob"]
        assert {item.username for item in page.items} == {"bob"}
        page = queries.list_history(session, carol, nothing, page=1, page_size=100)
        assert {item.id for item in page.items} == mine["carol"]
        page = queries.list_history(session, ANONYMOUS, nothing, page=1, page_size=100)
        assert {item.id for item in page.items} == mine[None]
        page = queries.list_history(session, alice, nothing, page=1, page_size=100)
        assert page.total == 6
        only_bob = queries.HistoryFilters(username="BOB")
        assert queries.list_history(session, alice, only_bob, page=1, page_size=100).total == 3
        # A user's own username filter cannot widen their view.
        assert queries.list_history(session, bob, queries.HistoryFilters(username="carol"), 1, 100).total == 0
        # Paging is stable: two pages of two cover bob's three rows once each.
        pages = [queries.list_history(session, bob, nothing, page=p, page_size=2).items for p in (1, 2)]
        assert sorted(i.id for p in pages for i in p) == sorted(mine["bob"])

        carols = next(iter(mine["carol"]))
        with pytest.raises(NotFound):
            queries.get_analysis(session, bob, carols)
        with pytest.raises(NotFound):
            queries.get_analysis(session, ANONYMOUS, carols)
        assert queries.get_analysis(session, carol, carols).user_id == users["carol"].id
        assert queries.get_analysis(session, alice, carols).id == carols

        stats = queries.compute_stats(session, bob, nothing)
        assert stats.total == 3 and stats.by_verdict == {"fake": 3}
        assert {d.name: d.calls for d in stats.detectors} == {"det0": 3, "det1": 3}
        assert queries.compute_stats(session, carol, nothing).by_verdict == {"real": 2}
        assert queries.compute_stats(session, alice, nothing).total == 6

    with pytest.raises(NotFound), db.session() as session:
        queries.delete_analysis(session, bob, carols, tmp_path)
    with db.session() as session:
        assert queries.get_analysis(session, carol, carols).id == carols  # still there
        queries.delete_analysis(session, carol, carols, tmp_path)
    with db.session() as session:
        assert queries.list_history(session, carol, nothing, 1, 100).total == 1
        remaining = session.scalar(
            select(func.count()).select_from(DetectorResult).where(DetectorResult.analysis_id == carols)
        )
        assert remaining == 0  # its detector rows went with it


def test_timestamps_are_utc_instants_whatever_the_server_time_zone(db):
    """Stored as the true instant, read back as UTC, filtered by instant (any offset) on the server."""
    users = add_users(db, "alice")
    instants = [datetime(2024, 3, 10, 23, 50, tzinfo=UTC) + timedelta(minutes=15 * i) for i in range(4)]
    ids = []
    with db.session() as session:
        assert session.scalar(text("SELECT current_setting('TimeZone')")) == SERVER_TIMEZONE
        for i, when in enumerate(instants):
            answer = make_answer()
            ids.append(answer.id)
            row = Analysis(
                id=answer.id,
                user_id=users["alice"].id,
                created_at=when.astimezone(timezone(timedelta(hours=-8))),  # any offset in, UTC out
                sha256=answer.sha256,
                size_bytes=i,
                media_type="image",
                verdict="fake",
                method="average",
                threshold=0.5,
                detectors=[],
                missing=[],
                warnings=[],
                elapsed_ms=1.0,
            )
            session.add(row)
    with db.session() as session:
        rows = session.scalars(select(Analysis).order_by(Analysis.created_at)).all()
        assert [r.created_at for r in rows] == instants
        assert all(r.created_at.tzinfo is UTC for r in rows)
        # The server holds the instant itself, not a wall-clock time shifted by either time zone.
        naive_utc = session.scalar(
            text("SELECT created_at AT TIME ZONE 'UTC' FROM analyses WHERE id = :id"), {"id": ids[0]}
        )
        assert naive_utc == datetime(2024, 3, 10, 23, 50)

        alice = as_viewer(users["alice"])
        kathmandu, new_york = timezone(timedelta(hours=5, minutes=45)), timezone(timedelta(hours=-5))
        window = queries.HistoryFilters(
            since=instants[1].astimezone(kathmandu),  # inclusive
            until=instants[3].astimezone(new_york),  # exclusive
        )
        page = queries.list_history(session, alice, window, page=1, page_size=10)
        assert [item.id for item in page.items] == [ids[2], ids[1]]  # newest first
        assert queries.compute_stats(session, alice, window).total == 2
    with pytest.raises(Exception, match="naive datetime"), db.session() as session:
        session.add(
            Analysis(
                id="naive",
                created_at=datetime(2024, 1, 1),
                sha256="0",
                size_bytes=0,
                media_type="image",
                verdict="fake",
                method="m",
                threshold=0.5,
                detectors=[],
                missing=[],
                warnings=[],
                elapsed_ms=1.0,
            )
        )
        session.flush()


class _Upload:
    """Stands in for an upload of ``size`` bytes without holding them: the recorder only takes its len()
    (keep_uploads is off)."""

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size


def test_an_upload_of_3_gib_is_recorded_and_read_back(db, tmp_path):
    """max_upload_mb allows up to 4096 MB. With a 32-bit size_bytes column, PostgreSQL refused the row
    of any upload of 2 GiB or more (DataError): the caller got the answer, the history lost it."""
    users = add_users(db, "alice")
    recorder = HistoryRecorder(db, tmp_path, keep_uploads=False)
    size = 3 * 2**30
    answer = make_answer()
    upload: bytes = _Upload(size)  # type: ignore[assignment]
    recorder.record(answer, data=upload, user_id=users["alice"].id, filename="big.mp4", request_id=None)
    alice = as_viewer(users["alice"])
    with db.session() as session:
        assert queries.get_analysis(session, alice, answer.id).size_bytes == size
        page = queries.list_history(session, alice, queries.HistoryFilters(), page=1, page_size=10)
        assert [(item.id, item.size_bytes) for item in page.items] == [(answer.id, size)]
        largest = 4096 * 2**20  # max_upload_mb's ceiling, in bytes
        session.get(Analysis, answer.id).size_bytes = largest
    with db.session() as session:
        assert session.get(Analysis, answer.id).size_bytes == largest


def test_text_with_a_nul_character_is_not_a_server_error(db, tmp_path):
    """PostgreSQL text cannot hold NUL (0x00), SQLite's can: a username, id, filter or key name with one
    made the driver raise, i.e. a 500 from /auth/token, /history/{id}, /history?username= and /api-keys."""
    users = add_users(db, "alice", "bob")
    alice, bob = as_viewer(users["alice"]), as_viewer(users["bob"])
    recorder = HistoryRecorder(db, tmp_path, keep_uploads=False)
    record(recorder, users["bob"].id)
    with db.session() as session:
        assert accounts.find_user(session, "bob\x00") is None
        with pytest.raises(WrongCredentials):
            accounts.authenticate(session, "b\x00ob", PASSWORD)
        with pytest.raises(NotFound):
            queries.get_analysis(session, bob, "abc\x00def")
        with pytest.raises(InvalidApiKey):
            accounts.identity_from_api_key(session, "trb_\x00")
        filtered = queries.HistoryFilters(username="bob\x00")
        assert queries.list_history(session, alice, filtered, page=1, page_size=10).total == 0
        assert queries.compute_stats(session, alice, filtered).total == 0
        accounts.create_api_key(session, users["bob"].id, "night\x00ly")
    with db.session() as session:
        stored = accounts.list_api_keys(session, users["bob"].id)[0].name
        assert stored == "night\ufffdly"  # stored, with the replacement character in place of NUL


# Concurrent writes -------------------------------------------------------------------------------


def test_parallel_history_writes_all_land_while_readers_read(db, tmp_path):
    """Many threads recording at once (the gateway records off the event loop, one thread per
    request): every row lands exactly once, nothing deadlocks, and readers keep getting answers."""
    users = add_users(db, "alice", "bob", "carol")
    recorder = HistoryRecorder(db, tmp_path, keep_uploads=False)
    writers, per_writer = 8, 30
    owners = [users["bob"].id, users["carol"].id, None]
    barrier = threading.Barrier(writers + 2)
    stop_reading = threading.Event()

    def write(w: int) -> list[str]:
        barrier.wait()
        return [record(recorder, owners[(w + i) % 3], detectors=3) for i in range(per_writer)]

    def read(viewer: Identity) -> int:
        barrier.wait()
        reads = 0
        while not stop_reading.is_set():
            with db.session() as session:
                queries.list_history(session, viewer, queries.HistoryFilters(), page=1, page_size=20)
                queries.compute_stats(session, viewer, queries.HistoryFilters())
            reads += 1
        return reads

    started = time.monotonic()
    with ThreadPoolExecutor(writers + 2) as pool:
        readers = [pool.submit(read, as_viewer(users[n])) for n in ("alice", "bob")]
        written = [pool.submit(write, w) for w in range(writers)]
        ids = [answer_id for future in written for answer_id in future.result(timeout=60)]
        stop_reading.set()
        assert all(reader.result(timeout=30) > 0 for reader in readers)
    elapsed = time.monotonic() - started

    total = writers * per_writer
    assert len(ids) == len(set(ids)) == total
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Analysis)) == total
        assert session.scalar(select(func.count()).select_from(DetectorResult)) == total * 3
        assert set(session.scalars(select(Analysis.id))) == set(ids)
        per_owner = dict(
            session.execute(select(Analysis.user_id, func.count()).group_by(Analysis.user_id)).all()
        )
        assert per_owner == {owner: total // 3 for owner in owners}
        bob = as_viewer(users["bob"])
        assert queries.list_history(session, bob, queries.HistoryFilters(), 1, 1).total == total // 3
    assert elapsed < 45, f"{total} inserts took {elapsed:.1f} s"


def test_parallel_requests_with_one_api_key_do_not_deadlock(db):
    """Each request with a key updates its last_used_at: the same row from many threads at once."""
    users = add_users(db, "alice", "bob")
    with db.session() as session:
        _, new = accounts.create_api_key(session, users["bob"].id, "shared")
    barrier = threading.Barrier(8)

    def use(_: int) -> int | None:
        barrier.wait()
        last = None
        for _ in range(25):
            with db.session() as session:
                last = accounts.identity_from_api_key(session, new.plaintext).user_id
        return last

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(use, range(8), timeout=60)) == {users["bob"].id}
