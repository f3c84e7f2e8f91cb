"""Feedback on verdicts: POST/GET/DELETE /history/{id}/feedback, GET /feedback/generators, and the
admin's GET /feedback/export (the corrected images as a labelled corpus for ``make benchmark``)."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from gateway.feedback import store
from gateway.feedback.export import write_export
from gateway.feedback.schemas import GENERATORS, FeedbackIn, FeedbackOptions, FeedbackOut
from gateway.history import queries
from gateway.openapi import error_responses
from gateway.routes.deps import AdminDep, GatewayDep, UserDep
from gateway.routes.params import AnalysisId

router = APIRouter(tags=["feedback"], responses=error_responses(401, 403, 422))
_NOT_FOUND = error_responses(404)

ExportSource = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        pattern=r"^[\w .:/@+-]+$",
        description="the source every exported row names (e.g. 'newsroom-2025'); default: who gave the feedback",
    ),
]


@router.post("/history/{analysis_id}/feedback", responses=_NOT_FOUND)
def give_feedback(
    analysis_id: AnalysisId, given: FeedbackIn, identity: UserDep, gateway: GatewayDep
) -> FeedbackOut:
    """Say what an analysed file actually is: real, or AI-made (optionally by which generator family),
    with an optional note. One current feedback per user and analysis: posting again replaces it."""
    with gateway.db.session() as session:
        analysis = queries.get_analysis(session, identity, analysis_id)
        return store.save_feedback(session, analysis, identity, given)


@router.get("/history/{analysis_id}/feedback", responses=_NOT_FOUND)
def read_feedback(analysis_id: AnalysisId, identity: UserDep, gateway: GatewayDep) -> FeedbackOut:
    """Your current feedback on this analysis; 404 ``no_feedback`` when you have given none."""
    with gateway.db.session() as session:
        analysis = queries.get_analysis(session, identity, analysis_id)
        return store.get_feedback(session, analysis, identity)


@router.delete(
    "/history/{analysis_id}/feedback", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND
)
def withdraw_feedback(analysis_id: AnalysisId, identity: UserDep, gateway: GatewayDep) -> Response:
    """Withdraw your feedback on this analysis."""
    with gateway.db.session() as session:
        analysis = queries.get_analysis(session, identity, analysis_id)
        store.delete_feedback(session, analysis, identity)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/feedback/generators")
def feedback_options(_: UserDep) -> FeedbackOptions:
    """The labels and generator families feedback may give."""
    return FeedbackOptions(labels=["real", "ai"], generators=list(GENERATORS))


@router.get(
    "/feedback/export",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "the labelled corpus as a ZIP"}},
)
def export_feedback(_: AdminDep, gateway: GatewayDep, source: ExportSource = None) -> FileResponse:
    """Admins: every image with feedback as a labelled corpus (manifest.csv + images/ + skipped.csv) that
    ``make benchmark CORPUS=<unpacked>/tribunal_feedback/manifest.csv`` imports. Feedback that cannot be
    exported (videos, conflicting labels, uploads not kept) is listed in skipped.csv; the counts are in
    the ``X-Feedback-Exported`` and ``X-Feedback-Skipped`` headers."""
    fd, name = tempfile.mkstemp(prefix="tribunal-feedback-", suffix=".zip")
    os.close(fd)
    target = Path(name)
    try:
        with gateway.db.session() as session:
            summary = write_export(session, gateway.settings.data_dir, target, source)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return FileResponse(
        target,
        media_type="application/zip",
        filename=f"tribunal-feedback-{stamp}.zip",
        headers={
            "X-Feedback-Exported": str(summary.exported),
            "X-Feedback-Skipped": str(len(summary.skipped)),
        },
        background=BackgroundTask(target.unlink, missing_ok=True),
    )
