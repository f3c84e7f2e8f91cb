"""Structured logs: one JSON object per line, and exactly one line per HTTP request with its request id.

Shared by the detector services and the gateway so every Tribunal process logs the same shape. The
request id is the incoming ``X-Request-ID`` when it is a sane token, else a fresh uuid; it is echoed
in the response header, available to handlers as ``request.state.request_id``, and stamped on every
log record emitted while the request runs. A handler can add fields to the request's line through
``request.state.log_fields`` (the gateway adds the verdict).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
# Accept client ids that are safe to log and forward; anything else is replaced, not echoed.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Called once per request with (method, route template, status, seconds): a metrics hook.
RequestObserver = Callable[[str, str, int, float], None]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, any ``fields`` in ``extra``, exc."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send every log record (ours, uvicorn's, httpx's) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The request line below replaces uvicorn's access log; httpx would log every detector call.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


def request_id_from(headers: Headers) -> str:
    incoming = headers.get(REQUEST_ID_HEADER)
    if incoming and _SAFE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestLogMiddleware:
    """Assigns the request id, logs the request line, and turns an unhandled exception into a JSON 500."""

    def __init__(
        self, app: ASGIApp, logger_name: str = "tribunal.request", observer: RequestObserver | None = None
    ):
        self.app = app
        self.log = logging.getLogger(logger_name)
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope))
        token = request_id_var.set(request_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["log_fields"] = {}
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        exc_info = None
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            exc_info = (type(exc), exc, exc.__traceback__)
            if not response_started:
                body = {
                    "error": "internal_error",
                    "detail": "the service failed unexpectedly",
                    "request_id": request_id,
                }
                await JSONResponse(body, status_code=500)(scope, receive, send_with_id)
            status = 500
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            fields = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "elapsed_ms": round(elapsed * 1000, 3),
                **state.get("log_fields", {}),
            }
            # 503 is an expected state (detectors down or loading), not a bug.
            if status == 503:
                level = logging.WARNING
            elif status >= 500:
                level = logging.ERROR
            else:
                level = logging.INFO
            self.log.log(level, "request", extra={"fields": fields}, exc_info=exc_info)
            if self.observer is not None:
                self.observer(scope["method"], template, status, elapsed)
            request_id_var.reset(token)
