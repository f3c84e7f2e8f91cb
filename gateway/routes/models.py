"""GET /models: every registered detector with its live state."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter

from gateway.fusion import strategy_names
from gateway.registry import (
    DetectorEntry,
    SupervisionReport,
    SupervisionReportError,
    read_supervision_report,
    supervision_file,
)
from gateway.routes.deps import Gateway, GatewayDep

router = APIRouter(tags=["models"])
log = logging.getLogger("gateway.models")


def _supervision() -> SupervisionReport | None:
    try:
        return read_supervision_report(supervision_file())
    except SupervisionReportError as exc:  # restart counts are worth a warning, not a failed /models
        log.warning("%s", exc)
        return None


def _restarts(report: SupervisionReport | None, name: str) -> dict[str, Any]:
    """``restarts`` and ``supervisor_state``: null unless a `make start` launcher supervises ``name``."""
    service = report.services.get(name) if report else None
    return {
        "restarts": service.restarts if service else None,
        "supervisor_state": service.state if service else None,
    }


async def _describe(
    gateway: Gateway, entry: DetectorEntry, report: SupervisionReport | None
) -> dict[str, Any]:
    live = gateway.fanout.state(entry.name).snapshot()
    described: dict[str, Any] = {**entry.model_dump(), **live, **_restarts(report, entry.name)}
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
    ``models_cache_s`` seconds, so polling this route does not load the detectors. Under `make start`
    each detector (and ``gateway``) also carries the launcher's restart count and supervision state.
    """
    report = _supervision()
    detectors = await asyncio.gather(
        *(_describe(gateway, entry, report) for entry in gateway.registry.detectors)
    )
    return {
        "detectors": list(detectors),
        "gateway": _restarts(report, "gateway"),
        "media_types": gateway.registry.media_types(),
        "ensemble_methods": strategy_names(),
        "default_method": gateway.settings.default_method,
        "threshold": gateway.settings.threshold,
        "uncertainty_band": gateway.settings.uncertainty_band,
        "attribution_min_share": gateway.settings.attribution_min_share,
    }
