"""Refuse oversized request bodies early: by Content-Length before reading, else while reading.

The body is read here (up to the limit for its path) and replayed to the app, so nothing downstream
ever holds more than the limit. Oversized requests get a JSON 413 naming the limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class UploadLimitMiddleware:
    """``limits`` maps a path to its body cap in bytes; other paths get ``default_limit``."""

    def __init__(self, app: ASGIApp, limits: Mapping[str, int], default_limit: int, hint: str = ""):
        self.app = app
        self.limits = dict(limits)
        self.default_limit = default_limit
        self.hint = hint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default_limit)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, int(declared), limit)
            return

        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away; there is nobody to answer
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                await self._refuse(scope, receive, send, None, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break

        body: bytes | None = b"".join(chunks)
        chunks.clear()

        async def replay() -> Message:
            nonlocal body
            if body is not None:
                message = {"type": "http.request", "body": body, "more_body": False}
                body = None  # hand the bytes over once; do not keep a second copy alive
                return message
            return await receive()  # later calls wait for the disconnect, as the server's would

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: int | None, limit: int) -> None:
        size_text = f"is {size / 2**20:.1f} MB" if size is not None else "exceeds the limit"
        detail = f"request body {size_text}; the limit for {scope['path']} is {limit / 2**20:.1f} MB"
        if self.hint:
            detail += f" ({self.hint})"
        body = {"error": "file_too_large", "detail": detail}
        # Connection: close, because the rest of the body is left unread.
        await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)
