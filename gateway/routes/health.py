"""Operations routes: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.openapi import error_responses
from gateway.routes.deps import GatewayDep

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """200 while the process serves requests; never contacts a detector."""
    return {"status": "ok"}


@router.get(
    "/ready",
    responses=error_responses(
        503, described={503: "some media type has no ready detector; the body also has the readiness fields"}
    ),
)
async def ready(gateway: GatewayDep) -> JSONResponse:
    """200 when every media type the registry serves has at least one ready detector, else 503 naming the gaps."""
    entries = gateway.registry.enabled()
    probes = await asyncio.gather(
        *(gateway.fanout.probe(entry, max_age_s=gateway.settings.models_cache_s) for entry in entries)
    )
    media: dict[str, dict[str, list[str]]] = {}
    for entry, probe in zip(entries, probes, strict=True):
        for media_type in entry.media_types:
            slot = media.setdefault(media_type, {"ready": [], "not_ready": []})
            slot["ready" if probe.ready else "not_ready"].append(entry.name)
    reasons = {probe.name: probe.reason for probe in probes if not probe.ready}
    missing = sorted(media_type for media_type, slot in media.items() if not slot["ready"])
    body = {"ready": bool(media) and not missing, "media_types": media, "not_ready_reasons": reasons}
    if not media:
        body.update(error="not_ready", detail="no detector is enabled in the registry")
        return JSONResponse(body, status_code=503)
    if missing:
        body.update(
            error="not_ready",
            detail="no ready detector for "
            + ", ".join(
                f"{media_type} (tried: {', '.join(media[media_type]['not_ready'])})" for media_type in missing
            ),
        )
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(gateway: GatewayDep) -> Response:
    """Prometheus text: requests, latency, detector calls by status, breaker states, verdicts."""
    return Response(gateway.metrics.render(gateway.registry, gateway.fanout), media_type=CONTENT_TYPE_LATEST)
