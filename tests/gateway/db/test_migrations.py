"""The Alembic migrations: they build the schema on an empty database and match the table models."""

from __future__ import annotations

import subprocess
import sys

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, delete, func, inspect, select, text

from gateway.db.engine import make_engine
from gateway.db.migrate import alembic_config, current_revision, upgrade
from gateway.db.models import Analysis, Base, DetectorResult, User
from gateway.registry import REPO_ROOT

# Every table the models declare, plus alembic's own: what the migrations must create.
TABLES = set(Base.metadata.tables) | {"alembic_version"}
# The tables revision 0001 made: what an upgrade from 0001 must carry over untouched.
TABLES_0001 = {"users", "api_keys", "analyses", "detector_results"}
# The newest revision, read from the migration scripts themselves.
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_migrations_create_the_schema_on_an_empty_sqlite_file(tmp_path):
    path = tmp_path / "fresh" / "tribunal.db"
    engine = make_engine(f"sqlite:///{path}")
    assert current_revision(engine) is None
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) == TABLES
    assert current_revision(engine) == HEAD
    upgrade(engine)  # a second start changes nothing
    assert current_revision(engine) == HEAD
    assert path.stat().st_mode & 0o077 == 0  # password hashes inside: owner-only
    engine.dispose()


def test_the_migrations_match_the_table_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []  # a model changed without a migration


def test_the_migrations_run_by_hand_and_render_for_postgresql(tmp_path):
    url = f"sqlite:///{tmp_path / 'by-hand.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "gateway.db", "upgrade", "--url", url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"at revision {HEAD}" in done.stdout
    # Offline mode prints the SQL for PostgreSQL without needing a server or its driver.
    sql = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(REPO_ROOT / "gateway/db/alembic.ini"),
            "upgrade",
            "head",
            "--sql",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"TRIBUNAL_DATABASE_URL": "postgresql://tribunal@localhost/tribunal", "PATH": ""},
    )
    assert sql.returncode == 0, sql.stderr
    assert "CREATE TABLE analyses" in sql.stdout and "TIMESTAMP WITH TIME ZONE" in sql.stdout


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def indexes(engine: Engine) -> dict[str, list[tuple]]:
    found = {}
    for table in TABLES_0001:
        found[table] = sorted(
            (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
            for ix in inspect(engine).get_indexes(table)
        )
    return found


def test_upgrading_a_0001_sqlite_database_keeps_every_row(tmp_path, history_rows):
    """0002 rebuilds the analyses table on SQLite (it cannot change a column's type in place). Dropping
    the old table with foreign keys on (as the gateway's engine has them) must not cascade into the
    detector rows that point at it, nor lose an index or a foreign key."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    history_rows.fill(engine)
    before, indexes_before = history_rows.snapshot(engine), indexes(engine)
    assert len(before["detector_results"]) == 6

    upgrade(engine)
    assert current_revision(engine) == HEAD
    assert history_rows.snapshot(engine) == before
    assert indexes(engine) == indexes_before
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        ddl = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'analyses'")).scalar()
        assert "size_bytes BIGINT NOT NULL" in ddl
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert connection.execute(text("SELECT name FROM sqlite_temp_master")).all() == []

    # Down and up again: nothing lost either way.
    downgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    assert history_rows.snapshot(engine) == before
    upgrade(engine)
    assert history_rows.snapshot(engine) == before

    # The rebuilt table still cascades both ways, and holds a size past 32 bits.
    with engine.begin() as connection:
        connection.execute(delete(Analysis).where(Analysis.id == "a0"))
        assert connection.scalar(select(func.count()).select_from(DetectorResult)) == 4
        connection.execute(delete(User).where(User.id == 2))
        assert set(connection.scalars(select(Analysis.id))) == {"a2"}
        assert connection.scalar(select(func.count()).select_from(DetectorResult)) == 2
        connection.execute(Analysis.__table__.update().values(size_bytes=3 * 2**30))
        assert connection.scalar(select(Analysis.size_bytes)) == 3 * 2**30
    engine.dispose()


def render(database_url: str, revisions: str) -> str:
    """The SQL `alembic upgrade <revisions> --sql` prints for ``database_url`` (no database needed)."""
    alembic = [sys.executable, "-m", "alembic", "-c", str(REPO_ROOT / "gateway/db/alembic.ini")]
    done = subprocess.run(
        [*alembic, "upgrade", revisions, "--sql"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"TRIBUNAL_DATABASE_URL": database_url, "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_0002_migration_alters_in_place_on_postgresql_and_renders_for_sqlite(tmp_path):
    """On PostgreSQL the column changes in place (no table rebuild, no copy of the history). SQLite's
    rebuild is written out in full, so it renders without a database to reflect the table from."""
    sql = render("postgresql://tribunal@localhost/tribunal", "0001:0002")
    assert "ALTER TABLE analyses ALTER COLUMN size_bytes TYPE BIGINT" in sql
    assert "_alembic_tmp" not in sql and "DROP TABLE" not in sql and "detector_results" not in sql
    sql = render(f"sqlite:///{tmp_path / 'never-made.db'}", "0001:0002")
    assert (
        "size_bytes BIGINT NOT NULL" in sql and "ALTER TABLE _alembic_tmp_analyses RENAME TO analyses" in sql
    )
    assert not (tmp_path / "never-made.db").exists()
