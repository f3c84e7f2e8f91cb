"""Table models: users, their API keys, and the history of analyses.

Changing a model means adding an Alembic migration under gateway/db/migrations/versions/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    TypeDecorator,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


ROLES = ("admin", "user")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored lower-cased, so "Alice" and "alice" are one account.
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# Any fixed number: PostgreSQL names advisory locks by a 64-bit integer (this one is "tribuser" in ASCII).
NEW_ACCOUNT_LOCK = 0x7472_6962_7573_6572


@event.listens_for(User, "before_insert")
def _one_new_account_at_a_time(_mapper: Any, connection: Connection, _user: User) -> None:
    """New accounts are added one transaction at a time, on every backend.

    ``accounts.register`` makes the first account the admin by counting the accounts older than the one
    it just inserted. SQLite's single writer lock makes a second sign-up wait for the first to commit; on
    PostgreSQL sign-ups racing on an empty database each counted none and all became admins. This lock,
    held until the transaction ends, makes PostgreSQL wait the same way (only account inserts take it).
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": NEW_ACCOUNT_LOCK})


class ApiKey(Base):
    """A key for scripts. Only its sha256 is stored; ``prefix`` lets the owner recognise it in a list."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="api_keys")


class Analysis(Base):
    """One detection answer, as given, plus who asked and what was uploaded."""

    __tablename__ = "analyses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the answer's id
    # Null when auth is off and nobody signed in. Deleting a user deletes their history.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # 64-bit: max_upload_mb allows up to 4096 MB, past PostgreSQL's 32-bit INTEGER (revision 0002).
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(16), index=True)
    score_fake: Mapped[float | None] = mapped_column(Float, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    method: Mapped[str] = mapped_column(String(200))
    threshold: Mapped[float] = mapped_column(Float)
    predicted_source: Mapped[str | None] = mapped_column(String(100), nullable=True)
    attribution: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The per-detector results as answered, minus heatmaps (large, and recomputable with explain).
    detectors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    missing: Mapped[list[str]] = mapped_column(JSON)
    warnings: Mapped[list[str]] = mapped_column(JSON)
    elapsed_ms: Mapped[float] = mapped_column(Float)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Relative to data_dir; set only when keep_uploads is on.
    stored_path: Mapped[str | None] = mapped_column(String(255), nullable=True)

    user: Mapped[User | None] = relationship()
    detector_results: Mapped[list[DetectorResult]] = relationship(
        back_populates="analysis", cascade="all, delete-orphan", passive_deletes=True
    )


class DetectorResult(Base):
    """One detector's part in one analysis, as a row, so /stats can aggregate it in SQL."""

    __tablename__ = "detector_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis_id: Mapped[str] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"), index=True)
    detector: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(16))
    prob_fake: Mapped[float | None] = mapped_column(Float, nullable=True)
    elapsed_ms: Mapped[float | None] = mapped_column(Float, nullable=True)

    analysis: Mapped[Analysis] = relationship(back_populates="detector_results")


class Feedback(Base):
    """A user's correction of one analysis: what the media actually is ("real", or "ai" with its generator).

    One current feedback per (analysis, user); giving it again replaces it (``updated_at`` moves).
    """

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("analysis_id", "user_id", name="uq_feedback_analysis_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis_id: Mapped[str] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(8))
    # A user-facing generator family (tribunal_sdk.taxonomy); only with label "ai", and optional there.
    generator: Mapped[str | None] = mapped_column(String(100), nullable=True)
    note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    analysis: Mapped[Analysis] = relationship()
    user: Mapped[User] = relationship()


JOB_ITEM_STATES = ("queued", "running", "done", "failed", "cancelled")


class Job(Base):
    """A batch of uploads analysed in the background (gateway/jobs/). Its state follows from its items'
    states (and ``cancelled_at``), so there is no job-level state to keep in step with them."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    # Null when auth is off and nobody signed in. Deleting a user deletes their jobs.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    name: Mapped[str] = mapped_column(String(255))  # the archive's name, or "<n> files"
    # The detection options every item runs with: ensemble_method, models, threshold.
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    user: Mapped[User | None] = relationship()
    items: Mapped[list[JobItem]] = relationship(
        back_populates="job", cascade="all, delete-orphan", passive_deletes=True
    )


class JobItem(Base):
    """One file of a job. ``analysis_id`` is written before its history row and the state becomes
    ``done`` only after that row is committed, so a restart can tell a finished item from one to rerun."""

    __tablename__ = "job_items"
    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_job_items_job_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # 1-based order in the job; also names its spooled file
    name: Mapped[str] = mapped_column(String(512))  # the client's file name or archive member path (a label)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), index=True)  # one of JOB_ITEM_STATES
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Not a foreign key: the item keeps its result when the history row is deleted or expires.
    analysis_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    score_fake: Mapped[float | None] = mapped_column(Float, nullable=True)
    predicted_source: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    job: Mapped[Job] = relationship(back_populates="items")
