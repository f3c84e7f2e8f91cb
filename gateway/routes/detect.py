"""POST /detect (multipart upload) and POST /predict (base64 JSON): the same detection, two encodings.

The answer is ``gateway.schemas.DetectionAnswer`` (its docstring documents every field).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from gateway.detection import DetectionOptions
from gateway.errors import MalformedRequest, UnsupportedMediaType
from gateway.history.recorder import RequestHistory
from gateway.openapi import error_responses
from gateway.routes.deps import Gateway, HistoryDep, gateway_of
from gateway.schemas import DetectionAnswer, PredictRequest, parse_models
from tribunal_sdk.requests import decode_base64

router = APIRouter(tags=["detection"])


ERROR_RESPONSES = error_responses(
    400,
    401,
    403,
    413,
    415,
    422,
    429,
    503,
    described={
        400: "empty or undecodable file, or a multipart body that cannot be read",
        401: "no identity while auth is on (send a bearer token or an X-API-Key), or a bad credential",
        413: "upload over the byte cap, or an image over the pixel cap",
        415: "not an accepted image/video format, or no enabled detector for its media type",
        422: "malformed request: missing file, bad base64, unknown ensemble_method or models",
        429: "over the per-user detection limit; Retry-After says when to try again",
        503: "every detector for the media type failed, a hard dependency failed, or the image does not fit "
        "the memory budget now (over_memory_budget, with Retry-After)",
    },
)


async def _run(
    gateway: Gateway,
    request: Request,
    data: bytes,
    options: DetectionOptions,
    history: RequestHistory,
    filename: str | None = None,
):
    answer = await gateway.service.detect(data, options, request_id=history.request_id)
    await history.record(answer, data, filename)
    gateway.metrics.observe_answer(
        answer.media_type,
        answer.verdict,
        options.method or gateway.settings.default_method,
        answer.score_fake,
    )
    request.state.log_fields.update(
        {
            "verdict": answer.verdict,
            "score_fake": answer.score_fake,
            "degraded": answer.degraded,
            "missing": answer.missing,
        }
    )
    return answer


@router.post("/detect", response_model=DetectionAnswer, responses=ERROR_RESPONSES)
async def detect(
    request: Request,
    # The caller and the request id, bound for the history row (the gateway is read from the request:
    # each dependency costs a walk of its sub-tree on every request, see routes/deps.py).
    history: HistoryDep,
    # Documented as a file that may be left out (no null): leaving it out is the missing_file 422 below.
    file: Annotated[UploadFile, File(description="the image or video; required")] = None,  # type: ignore[assignment]
    ensemble_method: Annotated[str | None, Form(description="voting, average or stacking")] = None,
    models: Annotated[str | None, Form(description="comma list of detector names; default all")] = None,
    threshold: Annotated[float | None, Form(gt=0, lt=1)] = None,
    explain: Annotated[bool, Form(description="ask detectors for heatmaps")] = False,
) -> DetectionAnswer:
    """Analyse an uploaded file: ``curl -F file=@photo.jpg http://127.0.0.1:8000/detect``."""
    if file is None:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise UnsupportedMediaType(
                f"POST /detect takes multipart/form-data with a 'file' field, not {content_type or 'no content type'}; "
                "send base64 JSON to POST /predict instead",
                code="unsupported_content_type",
            )
        raise MalformedRequest(
            "the multipart body has no 'file' field holding the image or video", code="missing_file"
        )
    data = await file.read()
    options = DetectionOptions(
        method=ensemble_method or None, models=parse_models(models), threshold=threshold, explain=explain
    )
    return await _run(gateway_of(request), request, data, options, history, file.filename)


@router.post("/predict", response_model=DetectionAnswer, responses=ERROR_RESPONSES)
async def predict(body: PredictRequest, request: Request, history: HistoryDep) -> DetectionAnswer:
    """Analyse a base64-encoded file sent as JSON; the same answer as /detect."""
    data = decode_base64(body.data)
    options = DetectionOptions(
        method=body.ensemble_method or None,
        models=body.models,  # already split by PredictRequest
        threshold=body.threshold,
        explain=body.explain,
        claimed_media_type=body.media_type,
    )
    return await _run(gateway_of(request), request, data, options, history)
