"""Bounded query and path parameters: what a client may put in a URL is checked here, before any SQL runs.

Each type is an ``Annotated`` the routes use as a parameter's type; a value outside its bounds is a
422 in the gateway's error shape (``{"error": "malformed_request", "detail", "problems"}``), never a
database error turned 500.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

from gateway.auth.schemas import USERNAME_PATTERN

# Far beyond any real history (10 million rows at the largest page size) and well inside the 64-bit
# integers SQLite and PostgreSQL compute OFFSET with.
MAX_PAGE = 100_000
MAX_PAGE_SIZE = 100
# Row ids are 32-bit INTEGER columns on PostgreSQL; a larger id cannot exist and would fail the query.
MAX_ROW_ID = 2**31 - 1
# Analysis ids are uuid4 hex (32 characters); anything else cannot name one.
ANALYSIS_ID_PATTERN = r"^[0-9A-Za-z_-]{1,64}$"


def _as_utc(value: datetime) -> datetime:
    """A naive time is UTC; an aware one is converted, refusing one that leaves datetime's years 1-9999."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC (years 1 to 9999)") from None


Page = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"1-based page number (at most {MAX_PAGE})")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="rows per page")]
UtcTime = Annotated[datetime, AfterValidator(_as_utc)]
Since = Annotated[UtcTime | None, Query(description="from this time on (ISO 8601; UTC if no offset)")]
Until = Annotated[
    UtcTime | None, Query(description="before this time (exclusive; ISO 8601; UTC if no offset)")
]
UsernameFilter = Annotated[
    str | None,
    Query(pattern=USERNAME_PATTERN, description="admins: one user's analyses only (case-insensitive)"),
]
AnalysisId = Annotated[str, Path(pattern=ANALYSIS_ID_PATTERN, description="the analysis' id")]
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
