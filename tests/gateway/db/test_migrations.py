"""The Alembic migrations: they build the schema on an empty database and match the table models."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from gateway.db.engine import make_engine
from gateway.db.migrate import current_revision, upgrade
from gateway.db.models import Base
from gateway.registry import REPO_ROOT

TABLES = {"users", "api_keys", "analyses", "detector_results", "alembic_version"}


def test_migrations_create_the_schema_on_an_empty_sqlite_file(tmp_path):
    path = tmp_path / "fresh" / "tribunal.db"
    engine = make_engine(f"sqlite:///{path}")
    assert current_revision(engine) is None
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) == TABLES
    assert current_revision(engine) == "0001"
    upgrade(engine)  # a second start changes nothing
    assert current_revision(engine) == "0001"
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
    assert "at revision 0001" in done.stdout
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
