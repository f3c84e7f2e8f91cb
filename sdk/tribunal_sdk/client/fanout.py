"""The fan-out client: sends one upload to many detectors at once and reports what each one did.

This is the only way Tribunal code talks to detectors — the gateway for every request, the meta-learner
when it gathers training features — so it depends on httpx, aiohttp and pydantic only. One shared
``httpx.AsyncClient`` carries every call (over aiohttp; ``POST /predict`` goes to aiohttp directly,
its multipart body encoded once per upload for every detector); each call is bounded end-to-end by its
detector's ``timeout_s`` and guarded by a per-detector circuit breaker. While a breaker is open, a background task
polls that detector's ``GET /ready`` and closes the breaker when it answers 200, so no user request
waits on a detector to find out it is back.

    async with FanoutClient() as client:
        outcomes = await client.predict_all(data, "image", registry.for_media_type("image"))

No exception escapes ``predict_all``: every failure becomes a ``DetectorOutcome`` with a status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from tribunal_sdk.client.aiohttp_transport import AiohttpTransport
from tribunal_sdk.client.breaker import BreakerState, CircuitBreaker
from tribunal_sdk.client.endpoint import DetectorEndpoint
from tribunal_sdk.client.outcomes import DetectorOutcome, DetectorStatus, ProbeResult
from tribunal_sdk.client.responses import info_from_response, outcome_from_answer, ready_from_response
from tribunal_sdk.client.upload_body import UploadBody, encode_upload

log = logging.getLogger("tribunal.fanout")

# Weight of the newest sample in the latency moving average.
_EWMA_ALPHA = 0.2


class DetectorState:
    """Live facts about one detector, updated by every call: for /models and the logs."""

    def __init__(self, breaker: CircuitBreaker, health_probe_delay_s: float):
        self.breaker = breaker
        # Pause between health probes of an open breaker. A dead or stopped detector is probed at a
        # steady pace (probes are cheap and nobody waits on them); each time a probe closes the breaker
        # the pause doubles, until a call is answered, so a detector that says "ready" but keeps failing
        # calls costs a user request at most once per breaker_cooldown_s.
        self.health_probe_delay_s = health_probe_delay_s
        self.health_probe_task: asyncio.Task[None] | None = None
        self.latency_ms: float | None = None  # moving average over answered calls
        self.last_status: DetectorStatus | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.last_ok_at: datetime | None = None
        self.calls: dict[str, int] = {}
        self.probe: ProbeResult | None = None
        self._probed_monotonic: float | None = None

    def record(self, outcome: DetectorOutcome, called: bool = True) -> None:
        """Note an outcome; ``called`` is False when the breaker answered without calling the detector."""
        self.last_status = outcome.status
        self.calls[outcome.status.value] = self.calls.get(outcome.status.value, 0) + 1
        now = datetime.now(UTC)
        if outcome.answered:
            self.last_ok_at = now
            if outcome.elapsed_ms is not None:
                self.latency_ms = (
                    outcome.elapsed_ms
                    if self.latency_ms is None
                    else (1 - _EWMA_ALPHA) * self.latency_ms + _EWMA_ALPHA * outcome.elapsed_ms
                )
        elif outcome.failed and called:  # a breaker refusal is not news about the detector
            self.last_error = f"{outcome.status.value}: {outcome.error}"
            self.last_error_at = now

    def snapshot(self) -> dict[str, Any]:
        return {
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "last_status": self.last_status.value if self.last_status else None,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "last_ok_at": self.last_ok_at.isoformat() if self.last_ok_at else None,
            "calls": dict(self.calls),
            "breaker": self.breaker.state,
            "consecutive_failures": self.breaker.consecutive_failures,
        }


OutcomeObserver = Callable[[DetectorOutcome], None]


class FanoutClient:
    """Concurrent, time-bounded, breaker-guarded calls to detector services.

    ``transport`` replaces the network (tests pass ``httpx.MockTransport``); ``observer`` sees every
    outcome (the gateway feeds its metrics from it). An open breaker's detector is health-probed every
    ``health_probe_first_s``; that pause doubles, up to ``breaker_cooldown_s``, each time a probe closes
    the breaker and it opens again before any call was answered.
    """

    def __init__(
        self,
        *,
        breaker_failures: int = 3,
        breaker_cooldown_s: float = 10.0,
        probe_timeout_s: float = 2.0,
        health_probe_first_s: float = 0.5,
        max_connections: int = 512,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: OutcomeObserver | None = None,
    ):
        if breaker_cooldown_s <= 0 or health_probe_first_s <= 0:
            raise ValueError("breaker_cooldown_s and health_probe_first_s must be > 0")
        self.breaker_failures = breaker_failures
        self.breaker_cooldown_s = breaker_cooldown_s
        self.probe_timeout_s = probe_timeout_s
        self.health_probe_first_s = min(health_probe_first_s, breaker_cooldown_s)
        self._observer = observer
        self._states: dict[str, DetectorState] = {}
        # aiohttp carries the bytes unless a test injects its own transport (see aiohttp_transport.py).
        transport = transport or AiohttpTransport(max_connections=max_connections)
        # With aiohttp underneath, /predict calls skip httpx's request and response objects.
        self._direct = transport if isinstance(transport, AiohttpTransport) else None
        # Detectors are called by URL from the registry; never pick up proxies from the environment.
        self._client = httpx.AsyncClient(transport=transport, trust_env=False)

    async def __aenter__(self) -> FanoutClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        tasks = [s.health_probe_task for s in self._states.values() if s.health_probe_task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.aclose()

    def state(self, name: str) -> DetectorState:
        """The live state of detector ``name`` (created on first use)."""
        if name not in self._states:
            self._states[name] = DetectorState(
                CircuitBreaker(self.breaker_failures), health_probe_delay_s=self.health_probe_first_s
            )
        return self._states[name]

    def breaker_state(self, name: str) -> BreakerState:
        return self.state(name).breaker.state

    async def predict_all(
        self,
        data: bytes,
        media_type: str,
        entries: Sequence[DetectorEndpoint],
        explain: bool = False,
        request_id: str | None = None,
    ) -> list[DetectorOutcome]:
        """Send ``data`` to every entry's ``POST /predict`` at once; one outcome per entry, in order.

        Entries that do not handle ``media_type`` are not called (status ``skipped``). The slowest
        detector bounds the wait, and no detector waits longer than its own ``timeout_s``.
        """
        body = encode_upload(data)  # once for every detector
        calls = [self._predict(entry, body, media_type, explain, request_id) for entry in entries]
        return list(await asyncio.gather(*calls))

    async def predict_one(
        self,
        entry: DetectorEndpoint,
        data: bytes,
        media_type: str,
        *,
        explain: bool = False,
        request_id: str | None = None,
    ) -> DetectorOutcome:
        """One detector call with its timeout and breaker; never raises (except on cancellation)."""
        return await self._predict(entry, encode_upload(data), media_type, explain, request_id)

    async def _predict(
        self,
        entry: DetectorEndpoint,
        body: UploadBody,
        media_type: str,
        explain: bool,
        request_id: str | None,
    ) -> DetectorOutcome:
        if media_type not in entry.media_types:
            return DetectorOutcome.skipped(
                entry.name, f"handles {', '.join(entry.media_types)}, not {media_type}"
            )
        state = self.state(entry.name)
        breaker = state.breaker
        if not breaker.allow():
            outcome = DetectorOutcome(
                name=entry.name,
                status=DetectorStatus.UNAVAILABLE,
                error=(
                    f"circuit breaker open after {breaker.consecutive_failures} consecutive failure(s) "
                    f"(last: {state.last_error}); a health probe closes it once the detector is ready"
                ),
            )
            self._finish(state, outcome, called=False)
            self._watch_health(entry, state)
            return outcome

        started = time.perf_counter()
        try:
            # wait_for bounds the whole exchange, so a detector that accepts the connection and then
            # never answers (hung, SIGSTOPped) still times out; httpx's own timeouts are per phase.
            outcome = await asyncio.wait_for(
                self._post_predict(entry, body, explain, request_id), timeout=entry.timeout_s
            )
        except (TimeoutError, httpx.TimeoutException):
            outcome = DetectorOutcome(
                name=entry.name,
                status=DetectorStatus.TIMEOUT,
                error=f"no answer within {entry.timeout_s:g} s",
            )
        except httpx.ConnectError as exc:
            outcome = DetectorOutcome(
                name=entry.name,
                status=DetectorStatus.UNAVAILABLE,
                error=f"cannot connect to {entry.url}: {exc}",
            )
        except httpx.HTTPError as exc:
            # e.g. the process died mid-answer (RemoteProtocolError, ReadError).
            outcome = DetectorOutcome(
                name=entry.name, status=DetectorStatus.ERROR, error=f"{type(exc).__name__}: {exc}"
            )
        except Exception as exc:  # a bug in our own handling must not take the whole request down
            log.exception("unexpected failure calling %s", entry.name)
            outcome = DetectorOutcome(
                name=entry.name, status=DetectorStatus.ERROR, error=f"{type(exc).__name__}: {exc}"
            )
        outcome.elapsed_ms = round((time.perf_counter() - started) * 1000, 3)

        # A 4xx means the detector is healthy but refused this input; only real failures trip the breaker.
        refused_input = outcome.http_status is not None and 400 <= outcome.http_status < 500
        if outcome.failed and not refused_input:
            # A timeout already cost this caller the whole timeout_s: one is enough to stop sending more.
            if breaker.record_failure(hard=outcome.status == DetectorStatus.TIMEOUT):
                log.warning(
                    "circuit breaker for %s opened after %d consecutive failure(s): %s",
                    entry.name,
                    breaker.consecutive_failures,
                    outcome.error,
                    extra={"fields": {"detector": entry.name, "breaker": "open"}},
                )
            self._watch_health(entry, state)
        else:
            breaker.record_success()
            state.health_probe_delay_s = self.health_probe_first_s
        self._finish(state, outcome)
        return outcome

    def _watch_health(self, entry: DetectorEndpoint, state: DetectorState) -> None:
        """Make sure a background probe is polling ``entry`` while its breaker is open."""
        if state.breaker.allow():
            return
        if state.health_probe_task is None or state.health_probe_task.done():
            state.health_probe_task = asyncio.create_task(
                self._probe_until_ready(entry, state), name=f"health-probe-{entry.name}"
            )

    async def _probe_until_ready(self, entry: DetectorEndpoint, state: DetectorState) -> None:
        """Poll ``GET /ready`` while the breaker is open; the first 200 closes it."""
        while not state.breaker.allow():
            await asyncio.sleep(state.health_probe_delay_s)
            if state.breaker.allow():  # a call that was in flight answered meanwhile
                return
            try:
                ready, _ = await asyncio.wait_for(self._get_ready(entry), timeout=self.probe_timeout_s)
            except (TimeoutError, httpx.HTTPError):
                ready = False
            except Exception:  # a bug here must not leave the breaker open forever: keep probing
                log.exception("health probe of %s failed unexpectedly", entry.name)
                ready = False
            if ready:
                state.breaker.record_success()
                state.health_probe_delay_s = min(state.health_probe_delay_s * 2, self.breaker_cooldown_s)
                log.info(
                    "%s is ready again (health probe); circuit breaker closed",
                    entry.name,
                    extra={"fields": {"detector": entry.name, "breaker": "closed"}},
                )
                return

    async def _post_predict(
        self, entry: DetectorEndpoint, body: UploadBody, explain: bool, request_id: str | None
    ) -> DetectorOutcome:
        url = f"{entry.url}/predict" + ("?explain=true" if explain else "")
        headers = {"Content-Type": body.content_type}
        if request_id:
            headers["X-Request-ID"] = request_id
        if self._direct is not None:
            status, content = await self._direct.post(url, body.content, headers)
        else:
            response = await self._client.post(
                url, content=body.content, headers=headers, timeout=entry.timeout_s
            )
            status, content = response.status_code, response.content
        return outcome_from_answer(entry.name, status, content)

    async def probe(self, entry: DetectorEndpoint, max_age_s: float = 0.0) -> ProbeResult:
        """GET /ready and /info of one detector (reusing an answer younger than ``max_age_s``)."""
        state = self.state(entry.name)
        if (
            state.probe is not None
            and state._probed_monotonic is not None
            and time.monotonic() - state._probed_monotonic < max_age_s
        ):
            return state.probe
        started = time.perf_counter()
        try:
            ready, info = await asyncio.wait_for(
                asyncio.gather(self._get_ready(entry), self._get_info(entry)), timeout=self.probe_timeout_s
            )
            is_ready, reason = ready
        except (TimeoutError, httpx.TimeoutException):
            is_ready, reason, info = False, f"no answer within {self.probe_timeout_s:g} s", None
        except httpx.ConnectError as exc:
            is_ready, reason, info = False, f"cannot connect to {entry.url}: {exc}", None
        except httpx.HTTPError as exc:
            is_ready, reason, info = False, f"{type(exc).__name__}: {exc}", None
        result = ProbeResult(
            name=entry.name,
            ready=is_ready,
            reason=reason,
            info=info,
            probed_at=datetime.now(UTC),
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        state.probe = result
        state._probed_monotonic = time.monotonic()
        return result

    async def _get_ready(self, entry: DetectorEndpoint) -> tuple[bool, str | None]:
        response = await self._client.get(f"{entry.url}/ready", timeout=self.probe_timeout_s)
        return ready_from_response(response)

    async def _get_info(self, entry: DetectorEndpoint) -> dict[str, Any] | None:
        response = await self._client.get(f"{entry.url}/info", timeout=self.probe_timeout_s)
        return info_from_response(response)

    def _finish(self, state: DetectorState, outcome: DetectorOutcome, called: bool = True) -> None:
        state.record(outcome, called)
        if self._observer is not None:
            try:
                self._observer(outcome)
            except Exception:  # metrics must never break detection
                log.exception("outcome observer failed")
