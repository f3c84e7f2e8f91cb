"""Apply the Alembic migrations: at gateway start-up, from ``python -m gateway.db``, or from ``alembic``.

upgrade(database)            # what the gateway does before serving: the same as `alembic upgrade head`
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"


def alembic_config(url: str | None = None) -> Config:
    """The Alembic configuration for this package's migrations, pointed at ``url`` when given."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser treats % as interpolation; URLs may hold %-escaped passwords.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` up to ``revision`` (creating the schema on an empty one)."""
    config = alembic_config()
    with engine.begin() as connection:
        # env.py uses this connection instead of opening its own (it matters for SQLite in memory).
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
