"""The gateway application factory.

    app = create_app()                                  # settings from env/config, registry from its file
    app = create_app(settings, registry, transport)     # tests: explicit parts, fake detectors

Routes: POST /detect, POST /predict, GET /models, GET /health, GET /ready, GET /metrics; accounts
(/auth/*, /users/me, /api-keys), history (/history, /stats), feedback (/history/{id}/feedback,
/feedback/*), drift (/stats/drift), batch jobs (/jobs, run by the embedded engine in gateway/jobs/);
the dashboard at /.

Start-up migrates the database to the current schema and resolves the JWT secret; a placeholder
secret outside dev mode is a SettingsError, so the gateway refuses to start. While it serves, history
retention (off unless history_max_age_days or history_max_rows is set) sweeps old rows; shutdown waits
for the history writer (gateway/history/).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import Depends, FastAPI

from gateway.auth.jwt_secret import resolve_jwt_secret
from gateway.auth.signin_limits import SignInLimits
from gateway.auth.tokens import TokenService
from gateway.dashboard import install_dashboard
from gateway.db.engine import Database
from gateway.db.migrate import upgrade
from gateway.detection import DetectionPipeline
from gateway.drift import WatchedDetections, drift_monitor
from gateway.errors import install_error_handlers
from gateway.history.recorder import HistoryRecorder
from gateway.history.retention import HistoryRetention, RetentionPolicy
from gateway.jobs.engines import create_job_engine
from gateway.jobs.priority import InteractiveGate, InteractiveTraffic
from gateway.jobs.spool import JobSpool
from gateway.metrics import GatewayMetrics
from gateway.openapi import error_responses, install_openapi
from gateway.proxies import ForwardedClientMiddleware, TrustedProxies
from gateway.ratelimit import RateLimiter
from gateway.registry import Registry, load_registry
from gateway.routes import api_keys, auth, detect, feedback, health, history, jobs, models, stats, users
from gateway.routes.deps import Gateway, caller, detect_rate_limit
from gateway.settings import GatewaySettings, load_settings
from tribunal_sdk.client import FanoutClient
from tribunal_sdk.logs import RequestLogMiddleware
from tribunal_sdk.upload_limit import UploadLimitMiddleware

# Room for multipart boundaries, part headers and the small form fields around the file.
_MULTIPART_ENVELOPE = 64 * 1024
# Bodies of routes that take no upload (future auth forms and the like).
_SMALL_BODY_LIMIT = 1024 * 1024


def build_gateway(
    settings: GatewaySettings,
    registry: Registry,
    jwt_secret: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Gateway:
    """The gateway's working parts without HTTP: the database (migrated), the fan-out client, the detection
    service watched for drift, the history recorder, the limits. ``create_app`` serves them; a jobs worker
    (gateway/jobs/worker.py) runs job items with them."""
    db = Database(settings.database_url_or_default)
    upgrade(db.engine)
    metrics = GatewayMetrics()
    # Every detection answer also feeds the drift watch (references: the deployed meta-learner or oof answers).
    drift = drift_monitor(settings, registry)
    metrics.watch_drift(drift.report)
    fanout = FanoutClient(
        breaker_failures=settings.breaker_failures,
        breaker_cooldown_s=settings.breaker_cooldown_s,
        probe_timeout_s=settings.probe_timeout_s,
        max_connections=settings.max_connections,
        transport=transport,
        observer=metrics.observe_outcome,
    )
    return Gateway(
        settings=settings,
        registry=registry,
        fanout=fanout,
        service=WatchedDetections(DetectionPipeline(settings, registry, fanout), drift),
        metrics=metrics,
        db=db,
        tokens=TokenService(
            jwt_secret,
            access_ttl_s=settings.access_token_minutes * 60,
            refresh_ttl_s=settings.refresh_token_days * 86400,
        ),
        history=HistoryRecorder(
            db, settings.data_dir, settings.keep_uploads, batch_rows=settings.history_batch_rows
        ),
        detect_limiter=RateLimiter(settings.detect_per_minute, what="detections"),
        sign_in_limits=SignInLimits(
            per_address=settings.login_attempts_per_minute,
            per_account=settings.login_attempts_per_account_per_minute,
        ),
    )


def create_app(
    settings: GatewaySettings | None = None,
    registry: Registry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the gateway. ``transport`` replaces the network to the detectors (tests use MockTransport)."""
    settings = settings or load_settings()
    registry = registry or load_registry(settings.registry_path)
    secret = resolve_jwt_secret(settings)  # before anything else: a refused secret stops the start
    gateway = build_gateway(settings, registry, secret, transport)
    db, fanout, metrics, drift = gateway.db, gateway.fanout, gateway.metrics, gateway.service.monitor

    # Batch jobs (gateway/jobs/, docs/jobs.md): the jobs_engine setting picks who runs them, this process
    # after interactive detections (embedded) or workers fed through a broker (gateway/jobs/engines.py).
    job_engine = create_job_engine(
        settings.jobs_engine,
        gateway,
        JobSpool(settings.data_dir),
        InteractiveGate(settings.jobs_quiet_s, settings.jobs_max_yield_s),
    )

    retention = HistoryRetention(
        db,
        settings.data_dir,
        RetentionPolicy(max_age_days=settings.history_max_age_days, max_rows=settings.history_max_rows),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        cleanup = None
        if retention.policy.enabled:
            cleanup = asyncio.create_task(
                retention.run_every(settings.history_cleanup_interval_s, gateway.history.batches),
                name="history-retention",
            )
        await job_engine.start()
        yield
        await job_engine.stop()  # items cut short stay "running" and are settled by the next start
        if cleanup is not None:
            cleanup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cleanup
        await gateway.history.aclose()  # the rows of answers already sent are committed; this only waits
        await fanout.aclose()
        db.dispose()

    app = FastAPI(
        title="Tribunal gateway",
        description="Ensemble detection of AI-generated images and videos.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.state.drift = drift  # GET /stats/drift
    app.state.history_retention = retention
    app.state.jobs = job_engine
    install_error_handlers(app)
    install_openapi(app)
    # Who may call what: detection and the model list need an identity while auth_required is on
    # (history and stats check it in their handlers, which also scope the rows to the caller).
    app.include_router(detect.router, dependencies=[Depends(caller), Depends(detect_rate_limit)])
    app.include_router(models.router, dependencies=[Depends(caller)], responses=error_responses(401, 403))
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(api_keys.router)
    app.include_router(history.router)
    app.include_router(stats.router)
    app.include_router(jobs.router)
    app.include_router(feedback.router)
    install_dashboard(app, settings.frontend_dir)

    upload = settings.max_upload_bytes
    app.add_middleware(
        UploadLimitMiddleware,
        limits={
            "/detect": upload + _MULTIPART_ENVELOPE,
            "/predict": (upload + 2) // 3 * 4 + _MULTIPART_ENVELOPE,  # base64 is 4/3 the size
            "/jobs": int(settings.jobs_max_upload_mb * 1024 * 1024) + _MULTIPART_ENVELOPE,
        },
        default_limit=_SMALL_BODY_LIMIT,
        hint=f"max_upload_mb={settings.max_upload_mb:g}, set by TRIBUNAL_MAX_UPLOAD_MB",
    )
    app.add_middleware(InteractiveTraffic, gate=job_engine.gate)  # batch items wait while /detect runs
    # Added after the upload limit, so it logs and tags even the requests that limit refuses.
    app.add_middleware(RequestLogMiddleware, logger_name="gateway.request", observer=metrics.observe_request)
    # Outermost: every layer and route sees the client that trusted proxies name (gateway/proxies.py).
    app.add_middleware(ForwardedClientMiddleware, proxies=TrustedProxies(settings.trusted_proxies))
    return app
