"""The caller's analyses (an admin's: everyone's): GET /history, GET/DELETE /history/{id}, the kept file."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import FileResponse

from gateway.errors import NotFound
from gateway.fusion import Verdict
from gateway.history import queries
from gateway.history.schemas import HistoryDetail, HistoryPage
from gateway.history.uploads import content_type, upload_path
from gateway.routes.deps import CallerDep, GatewayDep

router = APIRouter(prefix="/history", tags=["history"])


def as_utc(value: datetime | None) -> datetime | None:
    """Query datetimes without an offset are taken as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def history_filters(
    verdict: Verdict | None = None,
    media_type: Literal["image", "video"] | None = None,
    since: Annotated[
        datetime | None, Query(description="from this time on (ISO 8601; UTC if no offset)")
    ] = None,
    until: Annotated[datetime | None, Query(description="before this time (exclusive)")] = None,
    username: Annotated[str | None, Query(description="admins: one user's analyses only")] = None,
) -> queries.HistoryFilters:
    return queries.HistoryFilters(
        verdict=verdict, media_type=media_type, since=as_utc(since), until=as_utc(until), username=username
    )


FiltersDep = Annotated[queries.HistoryFilters, Depends(history_filters)]


@router.get("")
def list_history(
    identity: CallerDep,
    gateway: GatewayDep,
    filters: FiltersDep,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> HistoryPage:
    """Analyses newest first, filtered by verdict, media type, date range (and user, for admins)."""
    with gateway.db.session() as session:
        return queries.list_history(session, identity, filters, page, page_size)


@router.get("/{analysis_id}")
def get_history(analysis_id: str, identity: CallerDep, gateway: GatewayDep) -> HistoryDetail:
    """One analysis in full. Someone else's id answers 404, exactly like an unknown one."""
    with gateway.db.session() as session:
        return queries.analysis_detail(queries.get_analysis(session, identity, analysis_id))


@router.get("/{analysis_id}/file", response_class=FileResponse)
def get_history_file(analysis_id: str, identity: CallerDep, gateway: GatewayDep) -> FileResponse:
    """The analysed file itself, when the gateway keeps uploads (``keep_uploads``)."""
    with gateway.db.session() as session:
        stored = queries.get_analysis(session, identity, analysis_id).stored_path
    path = upload_path(gateway.settings.data_dir, stored) if stored else None
    if path is None:
        raise NotFound(f"the file of analysis {analysis_id!r} was not kept (keep_uploads is off)")
    # nosniff: the type comes from the bytes we checked, and the browser must not guess another.
    return FileResponse(path, media_type=content_type(path), headers={"X-Content-Type-Options": "nosniff"})


@router.delete("/{analysis_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_history(analysis_id: str, identity: CallerDep, gateway: GatewayDep) -> Response:
    """Forget one analysis (and its kept file)."""
    with gateway.db.session() as session:
        queries.delete_analysis(session, identity, analysis_id, gateway.settings.data_dir)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
