"""The OpenAPI description of errors: the body the gateway really sends, declared for each status.

Every error answer is ``{"error": <code>, "detail": <sentence>, ...}`` (gateway/errors.py builds it);
a malformed request adds ``problems`` (one per field), a 429 adds ``retry_after_s``. Routes declare
the statuses of their own with ``error_responses(401, 404, ...)``; ``install_openapi`` adds what
every operation of a kind can answer: FastAPI's default 422 schema (``{"detail": [...]}``, which the
gateway never sends) becomes the error body, and an operation that takes a body also documents 400
(unreadable body) and 413 (over the size limit).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

_DEFAULT_422 = "#/components/schemas/HTTPValidationError"
_FASTAPI_ONLY = ("HTTPValidationError", "ValidationError")


class Problem(BaseModel):
    """One invalid field of a malformed request."""

    field: str = Field(
        description="the parameter or body field, dotted for nested ones ('body' for the whole)"
    )
    message: str


class ErrorBody(BaseModel):
    """Every error answer of the gateway. Some codes add fields of their own (e.g. ``known`` names)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="stable machine-readable code, e.g. malformed_request, invalid_token")
    detail: str = Field(description="what went wrong and what to do about it, for people")
    problems: list[Problem] | None = Field(
        None, description="a malformed request's invalid fields, one entry each (422 only)"
    )


class RateLimitedBody(ErrorBody):
    """A 429: the limit that was hit and how long to wait (also in the Retry-After header)."""

    retry_after_s: int = Field(ge=1, description="seconds to wait, as in Retry-After")
    limit_per_minute: int | None = None
    limited_by: Literal["address", "account"] | None = Field(
        None, description="sign-in only: which of the two sign-in limits was hit"
    )


DESCRIPTIONS: dict[int, str] = {
    400: "the request body could not be read",
    401: "no identity where one is needed, or a bad, expired or conflicting credential",
    403: "the account is disabled, or the action needs an administrator",
    404: "no such thing among the caller's (someone else's looks the same)",
    409: "the name is taken",
    413: "the request body is over the size limit for this route",
    415: "not an accepted media type",
    422: "malformed request; `problems` names each invalid field",
    429: "over a rate limit; wait Retry-After seconds",
    503: "no detector could answer",
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


def error_responses(
    *statuses: int, described: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route or router: ``statuses`` with the error body (``described`` overrides wording)."""
    described = described or {}
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "model": RateLimitedBody if status == 429 else ErrorBody,
            "description": described.get(status, DESCRIPTIONS[status]),
        }
        if status == 429:
            response["headers"] = _RETRY_AFTER
        responses[status] = response
    return responses


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the gateway's error body wherever FastAPI put its default 422."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _use_error_body(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _use_error_body(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in {**body.pop("$defs", {}), "ErrorBody": body}.items():
        components.setdefault(name, definition)
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            response = responses.get("422", {})
            for content in response.get("content", {}).values():
                if content.get("schema", {}).get("$ref") == _DEFAULT_422:
                    content["schema"] = {"$ref": "#/components/schemas/ErrorBody"}
                    response["description"] = DESCRIPTIONS[422]
            if "requestBody" in operation:
                # Any body can be unreadable (400, from the body parser) or too big (413, UploadLimitMiddleware).
                for status in ("400", "413"):
                    responses.setdefault(
                        status, {"description": DESCRIPTIONS[int(status)], "content": error_content}
                    )
    for name in _FASTAPI_ONLY:
        components.pop(name, None)
    return schema
