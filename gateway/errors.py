"""Gateway errors, and the handlers that give every error response the shape ``{"error", "detail", ...}``.

The media errors (UndecodableMedia 400, MediaTooLarge 413, UnsupportedMediaType 415, MalformedRequest
422) come from the SDK and are reused as they are, so clients see one vocabulary everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tribunal_sdk.errors import (
    MalformedRequest,
    MediaTooLarge,
    TribunalError,
    UndecodableMedia,
    UnsupportedMediaType,
)

__all__ = [
    "GatewayError",
    "HardDependencyFailed",
    "MalformedRequest",
    "MediaTooLarge",
    "NoDetectorAvailable",
    "NoDetectorForMediaType",
    "NoModelSelected",
    "NotFound",
    "RateLimited",
    "TribunalError",
    "UndecodableMedia",
    "UnknownModels",
    "UnknownStrategy",
    "UnsupportedMediaType",
    "install_error_handlers",
]

log = logging.getLogger("gateway.errors")


class GatewayError(TribunalError):
    """A gateway error that also sets response headers (``WWW-Authenticate`` on 401, ``Retry-After`` on 429)."""

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail, code=code, extra=extra)
        self.headers = headers or {}


class UnknownStrategy(TribunalError):
    """``ensemble_method`` names no registered fusion strategy."""

    status_code = 422
    code = "unknown_ensemble_method"

    def __init__(self, name: str, known: Iterable[str]):
        known = sorted(known)
        super().__init__(
            f"unknown ensemble_method {name!r}; choose one of: {', '.join(known)}",
            extra={"known": known},
        )


class UnknownModels(TribunalError):
    """``models`` names detectors the registry does not know."""

    status_code = 422
    code = "unknown_models"

    def __init__(self, unknown: Sequence[str], known: Sequence[str]):
        super().__init__(
            f"unknown model name(s) in 'models': {', '.join(unknown)}; known detectors: {', '.join(known)}",
            extra={"unknown": list(unknown), "known": list(known)},
        )


class NoModelSelected(TribunalError):
    """``models`` names only detectors that are disabled or do not handle this media type."""

    status_code = 422
    code = "no_model_selected"


class NoDetectorForMediaType(TribunalError):
    """The upload is a valid media type, but no enabled detector handles it."""

    status_code = 415
    code = "no_detector_for_media_type"


class NoDetectorAvailable(TribunalError):
    """Every detector asked for this media type failed; the body names each with its status."""

    status_code = 503
    code = "no_detector_available"


class HardDependencyFailed(TribunalError):
    """A detector registered with ``dependency: hard`` failed, so the request fails."""

    status_code = 503
    code = "hard_dependency_failed"


class NotFound(GatewayError):
    """The thing does not exist, or belongs to someone else (never revealing which)."""

    status_code = 404
    code = "not_found"


class RateLimited(GatewayError):
    """Too many requests; ``Retry-After`` says how many seconds to wait."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after_s: int, extra: dict[str, Any] | None = None):
        super().__init__(
            detail,
            headers={"Retry-After": str(retry_after_s)},
            extra={"retry_after_s": retry_after_s, **(extra or {})},
        )
        self.retry_after_s = retry_after_s


_HTTP_CODES = {
    400: "malformed_body",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


# Where a parameter came from; the field name alone is what a client needs.
_LOCATIONS = ("body", "query", "header", "path", "cookie")


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if part not in _LOCATIONS]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append({"field": ".".join(loc) or "body", "message": message})
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems) or "invalid request"
    return detail, problems


def install_error_handlers(app: FastAPI) -> None:
    """Map typed errors, validation errors and Starlette's 404/405 to the JSON error shape."""

    @app.exception_handler(TribunalError)
    async def _tribunal_error(_: Request, exc: TribunalError) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail, problems = _validation_detail(exc)
        body = {"error": MalformedRequest.code, "detail": detail, "problems": problems}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )
