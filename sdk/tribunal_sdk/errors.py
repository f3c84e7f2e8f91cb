"""Typed errors shared by every Tribunal service.

Each error knows its HTTP status and a stable machine-readable ``code``; services turn them into
``{"error": code, "detail": message}`` bodies. The gateway subclasses the same base so clients see
one error shape everywhere.

Every error whose message is meant for a person (an HTTP client, or whoever reads a ``make`` command's
output: a bad settings, registry, manifest or artifact file) is a ``TribunalError``, so it has a
status and a code even where no HTTP answer carries it yet. An error that still derives from a
built-in class as well (``ValueError``, ``RuntimeError``) keeps it so existing ``except`` clauses hold.
The few classes outside the tree say why in their docstring: each is a signal caught and turned into
something else where it is raised (an item's error, a fallback, a skipped image).
"""

from __future__ import annotations

from typing import Any


class TribunalError(Exception):
    """Base class: an error a client can act on."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, detail: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra or {}

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "detail": self.detail}
        body.update(self.extra)
        return body


class UndecodableMedia(TribunalError):
    """The bytes are of an allowed type but cannot be decoded (truncated, corrupt, empty)."""

    status_code = 400
    code = "undecodable_media"


class MediaTooLarge(TribunalError):
    """Upload over the byte cap, or an image over the pixel cap (decompression-bomb guard)."""

    status_code = 413
    code = "too_large"


class UnsupportedMediaType(TribunalError):
    """The bytes are not a format on the allow-list, or this detector does not handle that media type."""

    status_code = 415
    code = "unsupported_media_type"


class MalformedRequest(TribunalError):
    """The request itself is wrong: missing field, bad base64, bad parameter."""

    status_code = 422
    code = "malformed_request"


class NotReady(TribunalError):
    """The model is not loaded (still loading, or its weights are missing)."""

    status_code = 503
    code = "not_ready"


class WeightsUnavailable(NotReady):
    """Raised by ``Detector.load()`` when the weights cannot be found or fail their sha256 check.

    The service stays alive and answers ``/ready`` with 503 and this message as the reason.
    """


class InferenceFailed(TribunalError):
    """The detector's own code raised while scoring this input."""

    status_code = 500
    code = "inference_failed"
