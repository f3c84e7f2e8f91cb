"""The gateway application factory.

    app = create_app()                                  # settings from env/config, registry from its file
    app = create_app(settings, registry, transport)     # tests: explicit parts, fake detectors

Routes: POST /detect, POST /predict, GET /models, GET /health, GET /ready, GET /metrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from tribunal_sdk.logs import RequestLogMiddleware
from tribunal_sdk.upload_limit import UploadLimitMiddleware

from gateway.detection import DetectionService
from gateway.errors import install_error_handlers
from gateway.fanout import FanoutClient
from gateway.metrics import GatewayMetrics
from gateway.registry import Registry, load_registry
from gateway.routes import detect, health, models
from gateway.routes.deps import Gateway
from gateway.settings import GatewaySettings, load_settings

# Room for multipart boundaries, part headers and the small form fields around the file.
_MULTIPART_ENVELOPE = 64 * 1024
# Bodies of routes that take no upload (future auth forms and the like).
_SMALL_BODY_LIMIT = 1024 * 1024


def create_app(
    settings: GatewaySettings | None = None,
    registry: Registry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the gateway. ``transport`` replaces the network to the detectors (tests use MockTransport)."""
    settings = settings or load_settings()
    registry = registry or load_registry(settings.registry_path)
    metrics = GatewayMetrics()
    fanout = FanoutClient(
        breaker_failures=settings.breaker_failures,
        breaker_cooldown_s=settings.breaker_cooldown_s,
        probe_timeout_s=settings.probe_timeout_s,
        max_connections=settings.max_connections,
        transport=transport,
        observer=metrics.observe_outcome,
    )
    gateway = Gateway(
        settings=settings,
        registry=registry,
        fanout=fanout,
        service=DetectionService(settings, registry, fanout),
        metrics=metrics,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await fanout.aclose()

    app = FastAPI(
        title="Tribunal gateway",
        description="Ensemble detection of AI-generated images and videos.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    install_error_handlers(app)
    app.include_router(detect.router)
    app.include_router(models.router)
    app.include_router(health.router)

    upload = settings.max_upload_bytes
    app.add_middleware(
        UploadLimitMiddleware,
        limits={
            "/detect": upload + _MULTIPART_ENVELOPE,
            "/predict": (upload + 2) // 3 * 4 + _MULTIPART_ENVELOPE,  # base64 is 4/3 the size
        },
        default_limit=_SMALL_BODY_LIMIT,
        hint=f"max_upload_mb={settings.max_upload_mb:g}, set by TRIBUNAL_MAX_UPLOAD_MB",
    )
    # Added last, so it is outermost: it logs and tags even the requests the upload limit refuses.
    app.add_middleware(RequestLogMiddleware, logger_name="gateway.request", observer=metrics.observe_request)
    return app
