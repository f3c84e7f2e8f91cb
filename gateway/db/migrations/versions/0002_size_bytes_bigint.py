"""analyses.size_bytes as a 64-bit integer: uploads may reach max_upload_mb = 4096 MB, past 32 bits.

PostgreSQL's INTEGER stopped at 2 GiB - 1, so the history row of any larger upload was refused
(DataError) while its caller still got the answer. PostgreSQL changes the column in place. SQLite
cannot change a column's type, so batch mode rebuilds the table (copy, drop the old one, rename);
with foreign keys on, as the gateway's engine has them, dropping it would cascade into every
detector_results row, and the pragma cannot be turned off inside the migration's transaction, so
those rows are kept aside in a temporary table during the rebuild.

Downgrading refuses (on PostgreSQL) while a row holds a size past 32 bits instead of cutting it.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rows that reference analyses (ON DELETE CASCADE), and where they wait while it is rebuilt.
_REFERENCING = "detector_results"
_REFERENCING_COLUMNS = "id, analysis_id, detector, status, prob_fake, elapsed_ms"
_KEPT = "_tribunal_0002_detector_results"
_WHEN = sa.DateTime(timezone=True)


def _analyses(size_type: sa.types.TypeEngine) -> sa.Table:
    """analyses as revision 0001 made it, with size_bytes of ``size_type``: what SQLite's rebuild copies
    (given, not reflected from the database, so that `alembic upgrade --sql` can render it too)."""
    return sa.Table(
        "analyses",
        sa.MetaData(),
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", size_type, nullable=False),
        sa.Column("media_type", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("score_fake", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("method", sa.String(200), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("predicted_source", sa.String(100), nullable=True),
        sa.Column("attribution", sa.JSON(), nullable=True),
        sa.Column("detectors", sa.JSON(), nullable=False),
        sa.Column("degraded", sa.Boolean(), nullable=False),
        sa.Column("missing", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("elapsed_ms", sa.Float(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("stored_path", sa.String(255), nullable=True),
        sa.Index("ix_analyses_user_id", "user_id"),
        sa.Index("ix_analyses_created_at", "created_at"),
        sa.Index("ix_analyses_sha256", "sha256"),
        sa.Index("ix_analyses_verdict", "verdict"),
    )


def _change_size_bytes(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    rebuilds = op.get_context().dialect.name == "sqlite"
    if rebuilds:
        op.execute(f"CREATE TEMP TABLE {_KEPT} AS SELECT {_REFERENCING_COLUMNS} FROM {_REFERENCING}")
        op.execute(f"DELETE FROM {_REFERENCING}")
    with op.batch_alter_table("analyses", copy_from=_analyses(old)) as batch:
        batch.alter_column("size_bytes", existing_type=old, type_=new, existing_nullable=False)
    if rebuilds:
        op.execute(
            f"INSERT INTO {_REFERENCING} ({_REFERENCING_COLUMNS}) SELECT {_REFERENCING_COLUMNS} FROM {_KEPT}"
        )
        op.execute(f"DROP TABLE {_KEPT}")


def upgrade() -> None:
    _change_size_bytes(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    _change_size_bytes(sa.BigInteger(), sa.Integer())
