"""Typed errors built from the gateway's error body ``{"error", "detail", "problems"?, ...}``."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "AuthError",
    "BadRequest",
    "ConfigError",
    "ConnectionFailed",
    "NotFound",
    "RateLimited",
    "ServerError",
    "TribunalError",
    "Unavailable",
    "error_from_response",
    "parse_retry_after",
]


class TribunalError(Exception):
    """Any failed call. ``status_code`` is None when no HTTP answer came back (see ConnectionFailed)."""

    def __init__(
        self,
        detail: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        body: dict[str, Any] | None = None,
        request_id: str | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code
        self.code = code
        self.body = body or {}
        self.request_id = request_id

    def __str__(self) -> str:
        prefix = f"{self.status_code} {self.code}: " if self.status_code else ""
        return f"{prefix}{self.detail}"


class ConfigError(TribunalError):
    """No usable configuration: a bad config file, a bad setting, or no gateway URL."""


class ConnectionFailed(TribunalError):
    """The gateway could not be reached (after the configured retries)."""


class AuthError(TribunalError):
    """401 (no or bad credential) or 403 (not allowed, e.g. a disabled account)."""


class BadRequest(TribunalError):
    """400, 413, 415 or 422: the request itself was refused. ``problems`` lists per-field complaints."""

    @property
    def problems(self) -> list[dict[str, Any]]:
        problems = self.body.get("problems")
        return problems if isinstance(problems, list) else []


class NotFound(TribunalError):
    """404: no such analysis (or one belonging to someone else)."""


class RateLimited(TribunalError):
    """429. ``retry_after`` is the wait in seconds the gateway asked for (None if it gave none)."""

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class Unavailable(TribunalError):
    """503: no detector could answer, a hard dependency failed, or the gateway is over its memory budget."""

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ServerError(TribunalError):
    """Any other 5xx."""


_BY_STATUS: dict[int, type[TribunalError]] = {
    400: BadRequest,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    413: BadRequest,
    415: BadRequest,
    422: BadRequest,
}


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_response(response: httpx.Response) -> TribunalError:
    """The typed error for a non-2xx answer; any body shape is tolerated."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"detail": response.text[:500] or response.reason_phrase}
    status = response.status_code
    detail = str(body.get("detail") or response.reason_phrase or f"HTTP {status}")
    code = body.get("error") if isinstance(body.get("error"), str) else None
    common: dict[str, Any] = {
        "status_code": status,
        "code": code or f"http_{status}",
        "body": body,
        "request_id": response.headers.get("x-request-id"),
    }
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if retry_after is None and isinstance(body.get("retry_after_s"), int | float):
        retry_after = float(body["retry_after_s"])
    if status == 429:
        return RateLimited(detail, retry_after=retry_after, **common)
    if status == 503:
        return Unavailable(detail, retry_after=retry_after, **common)
    if status in _BY_STATUS:
        return _BY_STATUS[status](detail, **common)
    if status >= 500:
        return ServerError(detail, **common)
    if 400 <= status < 500:
        return BadRequest(detail, **common)
    return TribunalError(detail, **common)
