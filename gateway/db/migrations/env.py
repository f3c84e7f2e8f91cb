"""Alembic environment: migrates the connection the gateway hands over, or the URL in the config/settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from gateway.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from gateway.settings import load_settings

    return load_settings().database_url_or_default


def _run(connection: Connection) -> None:
    # Batch mode lets later migrations alter SQLite tables (SQLite has almost no ALTER TABLE).
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL instead of running it."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from gateway.db.engine import make_engine

    engine = make_engine(_url())
    try:
        with engine.begin() as own_connection:
            _run(own_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
