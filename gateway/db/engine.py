"""Engine and session factory for the gateway database (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite, creates the file's folder and sets safe connection pragmas; for
    PostgreSQL, keeps NUL characters (which its text cannot hold) out of the values sent."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_pre_ping=True)
        event.listen(engine, "before_cursor_execute", _no_nul_in_text, retval=True)
        return engine
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        # It holds password hashes: owner-only from the start (SQLite gives its -wal file the same mode).
        path.touch(mode=0o600, exist_ok=True)
    # Route handlers run in FastAPI's thread pool, so one connection may serve several threads.
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        # WAL lets readers (history pages) run while a detection is being recorded.
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL never corrupts the file; it only skips the fsync on each commit (a power
        # cut may lose the last few rows), which otherwise dominates the cost of recording a detection.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


# PostgreSQL text cannot hold NUL (SQLite's can); the driver refuses such a value outright, which turned a
# NUL in a sign-in name, an id or an API key's name into a server error. U+FFFD (the Unicode replacement
# character) stands in for it instead: lookups then find nothing, as they do on SQLite (no username or
# id holds a NUL), and a stored label keeps its other characters.
_NUL, _REPLACEMENT = "\x00", "\ufffd"


def _without_nul(parameters: Any) -> Any:
    """``parameters`` (a dict or a sequence of values) with NUL replaced in its strings; itself if none."""
    if isinstance(parameters, dict):
        if not any(isinstance(v, str) and _NUL in v for v in parameters.values()):
            return parameters
        return {k: v.replace(_NUL, _REPLACEMENT) if isinstance(v, str) else v for k, v in parameters.items()}
    if isinstance(parameters, list | tuple):
        if not any(isinstance(v, str) and _NUL in v for v in parameters):
            return parameters
        return type(parameters)(
            v.replace(_NUL, _REPLACEMENT) if isinstance(v, str) else v for v in parameters
        )
    return parameters


def _no_nul_in_text(_conn, _cursor, statement, parameters, _context, executemany):  # type: ignore[no-untyped-def]
    if executemany and isinstance(parameters, list | tuple):
        return statement, [_without_nul(row) for row in parameters]
    return statement, _without_nul(parameters)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class Database:
    """The engine plus a session factory; ``with db.session() as s:`` commits on success, rolls back on error."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
