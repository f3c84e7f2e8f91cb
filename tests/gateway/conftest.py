"""Fixtures for the gateway tests: fake detector services behind httpx.MockTransport, real gateway apps.

A fake detector is reached at ``http://<name>`` and behaves as its ``Behaviour`` says; tests change a
behaviour between requests to kill, hang or break a detector.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from gateway.app import create_app
from gateway.registry import DetectorEntry, Registry
from gateway.settings import GatewaySettings

Behaviour = Callable[[httpx.Request], Awaitable[httpx.Response]]


class FakeDetectors:
    """A set of fake detector services keyed by name (the URL host), with behaviour presets."""

    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.ready: dict[str, bool] = {}
        self.calls: Counter[str] = Counter()  # /predict calls per detector
        self.probes: Counter[str] = Counter()  # /ready calls per detector
        self.last_request: dict[str, httpx.Request] = {}

    def set(self, name: str, behaviour: Behaviour, ready: bool = True) -> None:
        self.behaviours[name] = behaviour
        self.ready[name] = ready

    async def handle(self, request: httpx.Request) -> httpx.Response:
        name = request.url.host
        if request.url.path == "/ready":
            self.probes[name] += 1
            if name not in self.behaviours:
                raise httpx.ConnectError("connection refused", request=request)
            if self.ready.get(name, True):
                return httpx.Response(200, json={"ready": True})
            return httpx.Response(503, json={"ready": False, "reason": "weights missing"})
        if request.url.path == "/info":
            if name not in self.behaviours:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(
                200, json={"name": name, "version": "1.2.3", "backbone": "fake-net", "task": "binary"}
            )
        assert request.url.path == "/predict", request.url
        self.calls[name] += 1
        self.last_request[name] = request
        behaviour = self.behaviours.get(name)
        if behaviour is None:
            raise httpx.ConnectError("connection refused", request=request)
        return await behaviour(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # Behaviour presets ---------------------------------------------------------------------------

    @staticmethod
    def ok(
        prob_fake: float,
        class_probs: dict[str, float] | None = None,
        delay_s: float = 0.0,
        details: dict[str, Any] | None = None,
    ) -> Behaviour:
        async def behave(request: httpx.Request) -> httpx.Response:
            if delay_s:
                await asyncio.sleep(delay_s)
            body: dict[str, Any] = {
                "detector": request.url.host,
                "version": "1.2.3",
                "prob_fake": prob_fake,
                "class_probs": class_probs,
                "elapsed_ms": delay_s * 1000,
                "warnings": [],
                "details": {"seen_bytes": len(request.content), **(details or {})},
            }
            if request.url.params.get("explain") == "true":
                body["heatmap_png"] = "aGVhdG1hcA=="
            return httpx.Response(200, json=body)

        return behave

    @staticmethod
    def abstain(reason: str = "no_evidence") -> Behaviour:
        async def behave(request: httpx.Request) -> httpx.Response:
            body = {
                "detector": request.url.host,
                "version": "1.2.3",
                "prob_fake": None,
                "abstained": True,
                "reason": reason,
                "elapsed_ms": 1.0,
            }
            return httpx.Response(200, json=body)

        return behave

    @staticmethod
    def status(code: int, body: Any = None) -> Behaviour:
        async def behave(request: httpx.Request) -> httpx.Response:
            return httpx.Response(code, json=body if body is not None else {"error": "x", "detail": "broken"})

        return behave

    @staticmethod
    def raw(code: int, content: bytes) -> Behaviour:
        async def behave(request: httpx.Request) -> httpx.Response:
            return httpx.Response(code, content=content)

        return behave

    @staticmethod
    def refuse() -> Behaviour:
        async def behave(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

        return behave

    @staticmethod
    def hang(seconds: float = 30.0) -> Behaviour:
        async def behave(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(seconds)
            return httpx.Response(200, json={})

        return behave


def make_entry(name: str, index: int = 0, **overrides: Any) -> DetectorEntry:
    fields: dict[str, Any] = {
        "name": name,
        "url": f"http://{name}",
        "port": 9100 + index,
        "media_types": ["image"],
        "timeout_s": 1.0,
    }
    fields.update(overrides)
    return DetectorEntry.model_validate(fields)


def make_registry(*names: str, **per_name: dict[str, Any]) -> Registry:
    return Registry(detectors=[make_entry(n, i, **per_name.get(n, {})) for i, n in enumerate(names)])


def make_settings(**overrides: Any) -> GatewaySettings:
    """Test settings. Auth is off unless a test turns it on (the auth tests do); pass a temporary data_dir."""
    base: dict[str, Any] = {
        "breaker_failures": 3,
        "breaker_cooldown_s": 10.0,
        "models_cache_s": 0.0,
        "auth_required": False,
        # The fake registries match no deployed meta-learner: plain averaging keeps these tests about what
        # they test (test_stacking.py covers the stacking default).
        "default_method": "average",
    }
    base.update(overrides)
    return GatewaySettings(**base)


@pytest.fixture
def fakes() -> FakeDetectors:
    return FakeDetectors()


@pytest.fixture
def gateway_client(fakes: FakeDetectors, tmp_path):
    """Factory: ``async with gateway_client(registry, **settings) as client`` talks to a real gateway app.

    Its database and files live in the test's temporary folder unless ``data_dir`` says otherwise.
    """

    @asynccontextmanager
    async def open_client(registry: Registry, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings.setdefault("data_dir", tmp_path / "data")
        app = create_app(make_settings(**settings), registry, transport=fakes.transport())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            client.app = app  # type: ignore[attr-defined]  # tests read app.state
            try:
                yield client
            finally:
                await app.state.gateway.fanout.aclose()
                app.state.gateway.db.dispose()

    return open_client


@pytest.fixture
def auth_gateway(fakes: FakeDetectors, gateway_client):
    """Factory: a gateway with auth on and one fake detector "a" (P(fake)=0.8, attributing to sdxl)."""

    def open_client(**settings: Any):
        fakes.set("a", fakes.ok(0.8, {"real": 0.2, "sdxl": 0.8}))
        settings.setdefault("auth_required", True)
        return gateway_client(make_registry("a"), **settings)

    return open_client


# Media ---------------------------------------------------------------------------------------------


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def png() -> bytes:
    return image_bytes("PNG")


@pytest.fixture(scope="session")
def jpeg() -> bytes:
    return image_bytes("JPEG", size=(256, 256))


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON error body, checked for the contract shape."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = json.loads(response.content)
    assert isinstance(body.get("error"), str) and isinstance(body.get("detail"), str), body
    return body


@pytest.fixture(scope="session")
def gw() -> SimpleNamespace:
    """Helpers shared by the gateway tests (a fixture, so no test imports conftest by module name)."""
    return SimpleNamespace(
        entry=make_entry,
        registry=make_registry,
        settings=make_settings,
        image=image_bytes,
        error_body=error_body,
    )
