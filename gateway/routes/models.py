"""GET /models: every registered detector with its live state."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from gateway.fusion import strategy_names
from gateway.registry import DetectorEntry
from gateway.routes.deps import Gateway, GatewayDep

router = APIRouter(tags=["models"])


async def _describe(gateway: Gateway, entry: DetectorEntry) -> dict[str, Any]:
    live = gateway.fanout.state(entry.name).snapshot()
    described: dict[str, Any] = {**entry.model_dump(), **live}
    if not entry.enabled:
        described.update(
            ready=None, reason="disabled in the registry", version=None, backbone=None, info=None
        )
        return described
    probe = await gateway.fanout.probe(entry, max_age_s=gateway.settings.models_cache_s)
    info = probe.info or {}
    described.update(
        ready=probe.ready,
        reason=probe.reason,
        version=probe.version,
        backbone=probe.backbone,
        task=info.get("task"),
        classes=info.get("classes"),
        device=info.get("device"),
        info=probe.info,
        probed_at=probe.probed_at.isoformat(),
    )
    return described


@router.get("/models")
async def list_models(gateway: GatewayDep) -> dict[str, Any]:
    """The registry with each detector's readiness, version, backbone, latency, last error and breaker.

    Probes (GET /ready and /info on each enabled detector) run concurrently and are reused for
    ``models_cache_s`` seconds, so polling this route does not load the detectors.
    """
    detectors = await asyncio.gather(*(_describe(gateway, entry) for entry in gateway.registry.detectors))
    return {
        "detectors": list(detectors),
        "media_types": gateway.registry.media_types(),
        "ensemble_methods": strategy_names(),
        "default_method": gateway.settings.default_method,
        "threshold": gateway.settings.threshold,
        "uncertainty_band": gateway.settings.uncertainty_band,
        "attribution_min_share": gateway.settings.attribution_min_share,
    }
