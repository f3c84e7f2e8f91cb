"""The caller's analyses (an admin's: everyone's): GET /history, GET/DELETE /history/{id}, the kept file."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response, status
from fastapi.responses import FileResponse

from gateway.errors import NotFound
from gateway.feedback.store import feedback_on
from gateway.fusion import Verdict
from gateway.history import queries
from gateway.history.schemas import HistoryDetail, HistoryPage
from gateway.history.uploads import content_type, upload_path
from gateway.openapi import error_responses
from gateway.routes.deps import CallerDep, GatewayDep
from gateway.routes.params import AnalysisId, Page, PageSize, Since, Until, UsernameFilter

router = APIRouter(prefix="/history", tags=["history"], responses=error_responses(401, 403, 422))
_NOT_FOUND = error_responses(404)


def history_filters(
    verdict: Verdict | None = None,
    media_type: Literal["image", "video"] | None = None,
    since: Since = None,
    until: Until = None,
    username: UsernameFilter = None,
) -> queries.HistoryFilters:
    """The filters /history and /stats share, already bounded and in UTC (see gateway/routes/params.py)."""
    return queries.HistoryFilters(
        verdict=verdict, media_type=media_type, since=since, until=until, username=username
    )


FiltersDep = Annotated[queries.HistoryFilters, Depends(history_filters)]


@router.get("")
def list_history(
    identity: CallerDep,
    gateway: GatewayDep,
    filters: FiltersDep,
    page: Page = 1,
    page_size: PageSize = 20,
) -> HistoryPage:
    """Analyses newest first, filtered by verdict, media type, date range (and user, for admins)."""
    with gateway.db.session() as session:
        return queries.list_history(session, identity, filters, page, page_size)


@router.get("/{analysis_id}", responses=_NOT_FOUND)
def get_history(analysis_id: AnalysisId, identity: CallerDep, gateway: GatewayDep) -> HistoryDetail:
    """One analysis in full, with the feedback given on it. Someone else's id answers 404, exactly like an
    unknown one."""
    with gateway.db.session() as session:
        row = queries.get_analysis(session, identity, analysis_id)
        return queries.analysis_detail(row, feedback_on(session, row.id))


@router.get("/{analysis_id}/file", response_class=FileResponse, responses=_NOT_FOUND)
def get_history_file(analysis_id: AnalysisId, identity: CallerDep, gateway: GatewayDep) -> FileResponse:
    """The analysed file itself, when the gateway keeps uploads (``keep_uploads``)."""
    with gateway.db.session() as session:
        stored = queries.get_analysis(session, identity, analysis_id).stored_path
    path = upload_path(gateway.settings.data_dir, stored) if stored else None
    if path is None:
        raise NotFound(f"the file of analysis {analysis_id!r} was not kept (keep_uploads is off)")
    # nosniff: the type comes from the bytes we checked, and the browser must not guess another.
    return FileResponse(path, media_type=content_type(path), headers={"X-Content-Type-Options": "nosniff"})


@router.delete("/{analysis_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
def delete_history(analysis_id: AnalysisId, identity: CallerDep, gateway: GatewayDep) -> Response:
    """Forget one analysis (and its kept file)."""
    with gateway.db.session() as session:
        queries.delete_analysis(session, identity, analysis_id, gateway.settings.data_dir)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
