"""Serving the built dashboard (frontend/dist) at / with a single-page-app fallback.

It is installed as the router's fallback, so it only sees requests no API route matched: API
routes, their 405s and their 404s for API clients keep precedence. A browser navigating to a
dashboard page (``/analyses/abc``) gets index.html and the page's own router takes over. That is
why the dashboard's pages have paths no API route uses (/signin, /analyses, /detectors, /keys).
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

# The dashboard needs nothing from elsewhere: its own scripts, styles and API, images from data:/blob: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_HTML_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # index.html names the current hashed bundles, so it must never be served stale.
    "Cache-Control": "no-cache",
}
# Vite puts content-hashed files under assets/: a changed file gets a new name.
_ASSET_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tribunal</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>Tribunal gateway</h1>
<p>The API is running, but the dashboard has not been built (nothing in <code>{dist}</code>).</p>
<p>Build it with <code>make frontend</code> (or <code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</code>);
<code>make start</code> builds it for you. Then reload this page.</p>
<p>Meanwhile: the API documentation is at <a href="/docs">/docs</a>.</p>
</body></html>
"""


class Dashboard:
    """An ASGI app answering GET/HEAD for the dashboard's files, or 404 through the usual error shape."""

    def __init__(self, dist: Path):
        self.dist = dist.resolve()

    @property
    def built(self) -> bool:
        return (self.dist / "index.html").is_file()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=404)
        response = self._response(scope["path"], Headers(scope=scope))
        await response(scope, receive, send)

    def _response(self, path: str, headers: Headers) -> FileResponse | HTMLResponse:
        if not self.built:
            if path in ("/", "/index.html"):
                return HTMLResponse(
                    _NOT_BUILT.format(dist=html.escape(str(self.dist))), headers=_HTML_HEADERS
                )
            raise HTTPException(status_code=404)
        file = self._file(path)
        if file is not None:
            if file.name == "index.html":
                return FileResponse(file, headers=_HTML_HEADERS)
            cached = _ASSET_HEADERS if file.parent.name == "assets" else {"X-Content-Type-Options": "nosniff"}
            return FileResponse(file, headers=cached)
        # A page of the app (no file extension) asked for by a browser; API clients still get a 404.
        if "." not in path.rsplit("/", 1)[-1] and "text/html" in headers.get("accept", ""):
            return FileResponse(self.dist / "index.html", headers=_HTML_HEADERS)
        raise HTTPException(status_code=404)

    def _file(self, path: str) -> Path | None:
        """The file under dist that ``path`` names, never anything outside it."""
        relative = path.lstrip("/") or "index.html"
        candidate = (self.dist / relative).resolve()
        if not candidate.is_relative_to(self.dist) or not candidate.is_file():
            return None
        return candidate


def install_dashboard(app: FastAPI, dist: Path) -> Dashboard:
    """Serve ``dist`` for every GET that no route matched."""
    dashboard = Dashboard(dist)
    app.router.default = dashboard
    return dashboard
