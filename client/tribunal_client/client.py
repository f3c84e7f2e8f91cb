"""``TribunalClient`` (sync) and ``AsyncTribunalClient`` (async) over httpx.

Both retry a request that met 429, 503 or a connection failure, at most ``retries`` more times, waiting
what ``Retry-After`` asks (else ``backoff * 2**attempt``, capped at ``max_backoff``). A Retry-After
above ``max_retry_after`` is not waited for: the typed error is raised at once, carrying it.
Only connection failures (the request never reached the gateway) are retried, never read timeouts,
so an upload is never analysed twice by a retry.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx

from tribunal_client import __version__
from tribunal_client.config import ClientConfig, resolve_config
from tribunal_client.errors import ConnectionFailed, TribunalError, error_from_response
from tribunal_client.models import Detection, HistoryPage, Job, JobPage, JobResult, Models, Tokens

FileInput = str | os.PathLike[str] | bytes | IO[bytes]
# A job's file: a path, bytes or a binary file, or (name to send, any of those).
JobFile = FileInput | tuple[str, FileInput]
RETRY_STATUSES = frozenset({429, 503})
RETRY_EXCEPTIONS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    files: dict[str, Any] | list[tuple[str, Any]] | None = None
    jsonl: bool = False  # the answer is JSON lines (job results), not one JSON document


def _read_file(file: FileInput, filename: str | None) -> tuple[str, bytes]:
    if isinstance(file, bytes | bytearray):
        return filename or "upload", bytes(file)
    if isinstance(file, str | os.PathLike):
        path = Path(file)
        return filename or path.name, path.read_bytes()
    name = filename or Path(getattr(file, "name", "upload") or "upload").name
    return name, file.read()


def _detect_call(
    file: FileInput,
    filename: str | None,
    ensemble_method: str | None,
    models: str | list[str] | None,
    threshold: float | None,
    explain: bool,
) -> _Call:
    name, content = _read_file(file, filename)
    data: dict[str, Any] = {}
    if ensemble_method:
        data["ensemble_method"] = ensemble_method
    if models:
        data["models"] = models if isinstance(models, str) else ",".join(models)
    if threshold is not None:
        data["threshold"] = str(threshold)
    if explain:
        data["explain"] = "true"
    return _Call("POST", "/detect", data=data, files={"file": (name, content)})


def _job_call(
    files: Sequence[JobFile],
    add_to: str | None,
    ensemble_method: str | None,
    models: str | list[str] | None,
    threshold: float | None,
) -> _Call:
    parts = []
    for file in files:
        name, content = _read_file(file[1], file[0]) if isinstance(file, tuple) else _read_file(file, None)
        parts.append(("files", (name, content)))
    data: dict[str, Any] = {}
    if ensemble_method:
        data["ensemble_method"] = ensemble_method
    if models:
        data["models"] = models if isinstance(models, str) else ",".join(models)
    if threshold is not None:
        data["threshold"] = str(threshold)
    params = {"add_to": add_to} if add_to else None
    return _Call("POST", "/jobs", params=params, data=data, files=parts)


def _job_get_call(job_id: str, item_state: str | None, page: int, page_size: int) -> _Call:
    params: dict[str, Any] = {"page": page, "page_size": page_size}
    if item_state:
        params["item_state"] = item_state
    return _Call("GET", f"/jobs/{job_id}", params=params)


def _results_call(job_id: str) -> _Call:
    return _Call("GET", f"/jobs/{job_id}/results", params={"format": "jsonl"}, jsonl=True)


def _history_call(
    page: int,
    page_size: int,
    verdict: str | None,
    media_type: str | None,
    since: datetime | str | None,
    until: datetime | str | None,
    username: str | None,
) -> _Call:
    params: dict[str, Any] = {"page": page, "page_size": page_size}
    for key, value in (
        ("verdict", verdict),
        ("media_type", media_type),
        ("since", since),
        ("until", until),
        ("username", username),
    ):
        if value is not None:
            params[key] = value.isoformat() if isinstance(value, datetime) else value
    return _Call("GET", "/history", params=params)


class _Base:
    _http: httpx.Client | httpx.AsyncClient  # set by each subclass

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        retries: int | None = None,
        timeout: float | None = None,
        config_path: str | os.PathLike[str] | None = None,
        config: ClientConfig | None = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
    ):
        self.config = config or resolve_config(
            url=url, api_key=api_key, token=token, retries=retries, timeout=timeout, config_path=config_path
        )
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after

    @property
    def url(self) -> str:
        return self.config.url

    def _client_kwargs(self, transport: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "base_url": self.config.url,
            "timeout": self.config.timeout,
            "headers": {"User-Agent": f"tribunal-client/{__version__}", **self.config.headers()},
        }
        if transport is not None:
            kwargs["transport"] = transport
        return kwargs

    def _retry_delay(self, attempt: int, outcome: httpx.Response | Exception) -> float | None:
        """Seconds to wait before the next attempt, or None to give up on ``outcome``."""
        if attempt >= self.config.retries:
            return None
        fallback = min(self.max_backoff, self.backoff * 2**attempt)
        if isinstance(outcome, Exception):
            return fallback if isinstance(outcome, RETRY_EXCEPTIONS) else None
        if outcome.status_code not in RETRY_STATUSES:
            return None
        error = error_from_response(outcome)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is None:
            return fallback
        return retry_after if retry_after <= self.max_retry_after else None

    @staticmethod
    def _result(response: httpx.Response, jsonl: bool = False) -> Any:
        if not response.is_success:
            raise error_from_response(response)
        if jsonl:
            return [json.loads(line) for line in response.text.splitlines() if line.strip()]
        return response.json() if response.content else None

    @staticmethod
    def _connection_error(exc: Exception, url: str) -> TribunalError:
        return ConnectionFailed(f"cannot reach the gateway at {url}: {exc}")

    def _use_tokens(self, body: dict[str, Any]) -> Tokens:
        """After a sign-in: later calls carry the new access token instead of any API key."""
        tokens = Tokens(**{k: body[k] for k in ("access_token", "refresh_token", "expires_in") if k in body})
        self._http.headers.pop("X-API-Key", None)
        self._http.headers["Authorization"] = f"Bearer {tokens.access_token}"
        self.config = ClientConfig(
            url=self.config.url,
            token=tokens.access_token,
            retries=self.config.retries,
            timeout=self.config.timeout,
            source="sign_in",
        )
        return tokens


class TribunalClient(_Base):
    """A blocking client: ``with TribunalClient() as c: c.detect("photo.jpg").verdict``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ):
        super().__init__(url, **kwargs)
        self._sleep = sleep
        self._http = httpx.Client(**self._client_kwargs(transport))

    def __enter__(self) -> TribunalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method, call.path, params=call.params, data=call.data, files=call.files
                )
            except httpx.TransportError as exc:
                delay = self._retry_delay(attempt, exc)
                if delay is None:
                    raise self._connection_error(exc, self.url) from exc
            else:
                delay = self._retry_delay(attempt, response)
                if delay is None:
                    return self._result(response, call.jsonl)
            self._sleep(delay)
            attempt += 1

    def detect(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        ensemble_method: str | None = None,
        models: str | list[str] | None = None,
        threshold: float | None = None,
        explain: bool = False,
    ) -> Detection:
        """Analyse one image or video (a path, bytes or a binary file object)."""
        call = _detect_call(file, filename, ensemble_method, models, threshold, explain)
        return Detection.from_dict(self._send(call))

    def history(
        self,
        *,
        page: int = 1,
        page_size: int = 20,
        verdict: str | None = None,
        media_type: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        username: str | None = None,
    ) -> HistoryPage:
        """One page of the caller's analyses (an admin's: everyone's, or ``username``'s), newest first."""
        call = _history_call(page, page_size, verdict, media_type, since, until, username)
        return HistoryPage.from_dict(self._send(call))

    def models(self) -> Models:
        return Models.from_dict(self._send(_Call("GET", "/models")))

    def sign_in(self, username: str, password: str) -> Tokens:
        """Trade a username and password for tokens; later calls carry the access token."""
        body = self._send(_Call("POST", "/auth/token", data={"username": username, "password": password}))
        return self._use_tokens(body)

    def submit_job(
        self,
        files: Sequence[JobFile],
        *,
        add_to: str | None = None,
        ensemble_method: str | None = None,
        models: str | list[str] | None = None,
        threshold: float | None = None,
    ) -> Job:
        """Queue files (or one ZIP/TAR archive) as a batch job; answers at once. ``add_to``: add them
        to that job instead (its options apply). Each file may be ``(name, file)`` to choose its name."""
        return Job.from_dict(self._send(_job_call(files, add_to, ensemble_method, models, threshold)))

    def get_job(
        self, job_id: str, *, item_state: str | None = None, page: int = 1, page_size: int = 100
    ) -> Job:
        """The job's state and progress, with one page of its items."""
        return Job.from_dict(self._send(_job_get_call(job_id, item_state, page, page_size)))

    def job_results(self, job_id: str) -> list[JobResult]:
        """One row per item of the job, in upload order (unfinished items have no verdict yet)."""
        return [JobResult.from_dict(row) for row in self._send(_results_call(job_id))]

    def cancel_job(self, job_id: str) -> Job:
        """Cancel the job: items not started never run."""
        return Job.from_dict(self._send(_Call("DELETE", f"/jobs/{job_id}")))

    def jobs(self, *, page: int = 1, page_size: int = 20) -> JobPage:
        """The caller's jobs (an admin's: everyone's), newest first."""
        return JobPage.from_dict(
            self._send(_Call("GET", "/jobs", params={"page": page, "page_size": page_size}))
        )


class AsyncTribunalClient(_Base):
    """The same calls as TribunalClient, awaitable: ``async with AsyncTribunalClient() as c: ...``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **kwargs: Any,
    ):
        super().__init__(url, **kwargs)
        self._sleep = sleep
        self._http = httpx.AsyncClient(**self._client_kwargs(transport))

    async def __aenter__(self) -> AsyncTribunalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call) -> Any:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, params=call.params, data=call.data, files=call.files
                )
            except httpx.TransportError as exc:
                delay = self._retry_delay(attempt, exc)
                if delay is None:
                    raise self._connection_error(exc, self.url) from exc
            else:
                delay = self._retry_delay(attempt, response)
                if delay is None:
                    return self._result(response, call.jsonl)
            await self._sleep(delay)
            attempt += 1

    async def detect(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        ensemble_method: str | None = None,
        models: str | list[str] | None = None,
        threshold: float | None = None,
        explain: bool = False,
    ) -> Detection:
        call = _detect_call(file, filename, ensemble_method, models, threshold, explain)
        return Detection.from_dict(await self._send(call))

    async def history(
        self,
        *,
        page: int = 1,
        page_size: int = 20,
        verdict: str | None = None,
        media_type: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        username: str | None = None,
    ) -> HistoryPage:
        call = _history_call(page, page_size, verdict, media_type, since, until, username)
        return HistoryPage.from_dict(await self._send(call))

    async def models(self) -> Models:
        return Models.from_dict(await self._send(_Call("GET", "/models")))

    async def sign_in(self, username: str, password: str) -> Tokens:
        body = await self._send(
            _Call("POST", "/auth/token", data={"username": username, "password": password})
        )
        return self._use_tokens(body)

    async def submit_job(
        self,
        files: Sequence[JobFile],
        *,
        add_to: str | None = None,
        ensemble_method: str | None = None,
        models: str | list[str] | None = None,
        threshold: float | None = None,
    ) -> Job:
        return Job.from_dict(await self._send(_job_call(files, add_to, ensemble_method, models, threshold)))

    async def get_job(
        self, job_id: str, *, item_state: str | None = None, page: int = 1, page_size: int = 100
    ) -> Job:
        return Job.from_dict(await self._send(_job_get_call(job_id, item_state, page, page_size)))

    async def job_results(self, job_id: str) -> list[JobResult]:
        return [JobResult.from_dict(row) for row in await self._send(_results_call(job_id))]

    async def cancel_job(self, job_id: str) -> Job:
        return Job.from_dict(await self._send(_Call("DELETE", f"/jobs/{job_id}")))

    async def jobs(self, *, page: int = 1, page_size: int = 20) -> JobPage:
        call = _Call("GET", "/jobs", params={"page": page, "page_size": page_size})
        return JobPage.from_dict(await self._send(call))


__all__ = ["AsyncTribunalClient", "TribunalClient"]
