"""Batch jobs: POST /jobs (and POST /jobs?add_to=<id>), GET /jobs, GET /jobs/{id}, GET /jobs/{id}/results,
DELETE /jobs/{id}. How jobs run, survive restarts and treat archives: docs/jobs.md and gateway/jobs/.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import MalformedRequest, UnknownModels, UnsupportedMediaType
from gateway.fusion import Verdict, get_strategy
from gateway.jobs import queries, store
from gateway.jobs.archives import ArchiveLimits
from gateway.jobs.engine import JobEngine
from gateway.jobs.errors import JobFinished, TooManyFiles
from gateway.jobs.intake import IntakeLimits, ItemDraft, Upload, take_uploads
from gateway.jobs.results import MEDIA_TYPES, ResultFormat, stream_results
from gateway.jobs.schemas import ItemState, JobDetail, JobPage, JobSummary
from gateway.openapi import error_responses
from gateway.routes.deps import CallerDep, GatewayDep
from gateway.routes.params import Page, PageSize
from gateway.schemas import parse_models
from gateway.settings import GatewaySettings

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=error_responses(401, 403, 422))

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the job's id (32 hex characters)")]
ItemsPageSize = Annotated[int, Query(ge=1, le=1000, description="items per page")]

_UPLOAD_ERRORS = error_responses(
    400,
    413,
    415,
    described={
        400: "an unreadable multipart body or archive, or an archive member with an absolute or '..' path",
        413: "body over jobs_max_upload_mb, more files than jobs_max_files, or an archive over "
        "jobs_max_unpacked_mb or jobs_max_compression_ratio (a decompression bomb)",
        415: "the body is not multipart/form-data",
        422: "no files, or a bad ensemble_method, models or threshold",
    },
)
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "images and videos, or one ZIP, TAR or TAR.GZ archive of them",
                        },
                        "ensemble_method": {"type": "string", "description": "voting, average or stacking"},
                        "models": {"type": "string", "description": "comma list of detector names"},
                        "threshold": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    },
                }
            }
        },
    }
}


def get_engine(request: Request) -> JobEngine:
    return request.app.state.jobs


EngineDep = Annotated[JobEngine, Depends(get_engine)]


def intake_limits(settings: GatewaySettings) -> IntakeLimits:
    return IntakeLimits(
        max_files=settings.jobs_max_files,
        max_file_bytes=settings.max_upload_bytes,
        archive=ArchiveLimits(
            max_members=settings.jobs_max_files,
            max_unpacked_bytes=int(settings.jobs_max_unpacked_mb * 2**20),
            max_ratio=settings.jobs_max_compression_ratio,
        ),
    )


async def _read_form(request: Request, settings: GatewaySettings) -> FormData:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UnsupportedMediaType(
            f"jobs take multipart/form-data with one or more 'files' fields, not {content_type or 'no content type'}",
            code="unsupported_content_type",
        )
    try:
        return await request.form(max_files=settings.jobs_max_files, max_fields=100)
    except StarletteHTTPException as exc:
        if "too many files" in str(exc.detail).lower():
            raise TooManyFiles(
                f"more than {settings.jobs_max_files} files in one request (TRIBUNAL_JOBS_MAX_FILES); "
                "split them into several requests"
            ) from exc
        raise


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    return value.strip() or None


def _options(form: FormData, gateway: GatewayDep) -> dict[str, Any]:
    """The job's detection options, checked now so a bad one fails the request, not every item."""
    method = _text(form, "ensemble_method")
    if method is not None:
        get_strategy(method)
    models = parse_models(_text(form, "models"))
    if models:
        unknown = [name for name in models if gateway.registry.get(name) is None]
        if unknown:
            raise UnknownModels(unknown, gateway.registry.names)
    threshold: float | None = None
    raw = _text(form, "threshold")
    if raw is not None:
        try:
            threshold = float(raw)
        except ValueError:
            threshold = float("nan")
        if not 0 < threshold < 1:
            raise MalformedRequest(
                f"threshold must be a number between 0 and 1 (exclusive), got {raw!r}", code="bad_threshold"
            )
    return {"ensemble_method": method, "models": models, "threshold": threshold}


def _uploads(form: FormData) -> list[Upload]:
    return [
        Upload(part.filename, part.file) for part in form.getlist("files") if isinstance(part, UploadFile)
    ]


def _summary(gateway: GatewayDep, identity: CallerDep, job_id: str) -> JobSummary:
    with gateway.db.session() as session:
        return queries.job_summary(session, queries.get_job(session, identity, job_id))


@router.post(
    "",
    status_code=202,
    responses={
        **_UPLOAD_ERRORS,
        **error_responses(404, 409, described={409: "add_to names a cancelled job"}),
    },
    openapi_extra=_UPLOAD_BODY,
)
async def submit_job(
    request: Request,
    identity: CallerDep,
    gateway: GatewayDep,
    engine: EngineDep,
    add_to: Annotated[
        str | None,
        Query(
            pattern=JOB_ID_PATTERN,
            description="add the files to this job instead of creating one (its options apply): a big "
            "batch sent in parts, or an interrupted upload resumed",
        ),
    ] = None,
) -> JobSummary:
    """Queue many files, or one archive of them, for analysis; answers at once with the job.

    ``curl -F files=@a.jpg -F files=@b.png http://127.0.0.1:8000/jobs`` or ``-F files=@photos.zip``.
    Each file becomes one analysis in /history, exactly as a /detect of it would.
    """
    if add_to is not None:
        summary = await asyncio.to_thread(_summary, gateway, identity, add_to)  # 404 before the body is read
        if summary.cancelled_at is not None:
            raise JobFinished(f"job {add_to} was cancelled; it takes no more files")
    form = await _read_form(request, gateway.settings)
    try:
        if add_to is None:
            job_id = await _create(form, identity, gateway, engine)
        else:
            job_id = add_to
            await _add(form, add_to, gateway, engine)
    finally:
        await form.close()
    engine.wake()
    return await asyncio.to_thread(_summary, gateway, identity, job_id)


async def _create(form: FormData, identity: CallerDep, gateway: GatewayDep, engine: JobEngine) -> str:
    options = _options(form, gateway)
    job_id = uuid.uuid4().hex
    try:
        drafts, name = await asyncio.to_thread(
            take_uploads, engine.spool, job_id, 1, _uploads(form), intake_limits(gateway.settings)
        )
        await asyncio.to_thread(store.create_job, gateway.db, job_id, identity.user_id, name, options, drafts)
    except BaseException:
        await asyncio.to_thread(engine.spool.remove, job_id)
        raise
    return job_id


async def _add(form: FormData, job_id: str, gateway: GatewayDep, engine: JobEngine) -> None:
    if any(_text(form, name) is not None for name in ("ensemble_method", "models", "threshold")):
        raise MalformedRequest(
            "ensemble_method, models and threshold are set when a job is created; leave them out with add_to",
            code="options_with_add_to",
        )
    drafts: list[ItemDraft] = []
    try:
        first = await asyncio.to_thread(store.next_seq, gateway.db, job_id)
        drafts, _ = await asyncio.to_thread(
            take_uploads, engine.spool, job_id, first, _uploads(form), intake_limits(gateway.settings)
        )
        if not await asyncio.to_thread(store.append_items, gateway.db, job_id, drafts):
            raise JobFinished(f"job {job_id} was cancelled; it takes no more files")
    except BaseException:
        await asyncio.to_thread(engine.spool.discard_many, job_id, [draft.seq for draft in drafts])
        raise


@router.get("")
def list_jobs(identity: CallerDep, gateway: GatewayDep, page: Page = 1, page_size: PageSize = 20) -> JobPage:
    """The caller's jobs (an admin's: everyone's), newest first."""
    with gateway.db.session() as session:
        return queries.list_jobs(session, identity, page, page_size)


@router.get("/{job_id}", responses=error_responses(404))
def get_job(
    job_id: JobId,
    identity: CallerDep,
    gateway: GatewayDep,
    item_state: Annotated[ItemState | None, Query(description="only the items in this state")] = None,
    verdict: Annotated[Verdict | None, Query(description="only the analysed items with this verdict")] = None,
    page: Page = 1,
    page_size: ItemsPageSize = 100,
) -> JobDetail:
    """A job's state and progress, and one page of its items in upload order."""
    with gateway.db.session() as session:
        job = queries.get_job(session, identity, job_id)
        return queries.job_detail(session, job, item_state, page, page_size, verdict)


@router.get(
    "/{job_id}/results",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "one row per item: seq, name, state, verdict, score_fake, predicted_source, "
            "analysis_id, error_code, error",
            "content": {media_type: {"schema": {"type": "string"}} for media_type in MEDIA_TYPES.values()},
        },
        **error_responses(404),
    },
)
def job_results(
    job_id: JobId,
    identity: CallerDep,
    gateway: GatewayDep,
    fmt: Annotated[ResultFormat, Query(alias="format", description="jsonl (JSON lines) or csv")] = "jsonl",
) -> StreamingResponse:
    """Every item's result, streamed: ``?format=jsonl`` (one JSON object per line) or ``?format=csv``."""
    with gateway.db.session() as session:
        queries.get_job(session, identity, job_id)
    return StreamingResponse(
        stream_results(gateway.db, job_id, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="job-{job_id}.{fmt}"'},
    )


@router.delete("/{job_id}", responses=error_responses(404))
async def cancel_job(
    job_id: JobId, identity: CallerDep, gateway: GatewayDep, engine: EngineDep
) -> JobSummary:
    """Cancel a job: items not started never run; items already running finish and are recorded.
    A job with nothing left to run is left as it is."""
    await asyncio.to_thread(_summary, gateway, identity, job_id)  # 404 for someone else's
    cancelled = await asyncio.to_thread(store.cancel, gateway.db, job_id)
    await asyncio.to_thread(engine.spool.discard_many, job_id, cancelled)
    return await asyncio.to_thread(_summary, gateway, identity, job_id)
