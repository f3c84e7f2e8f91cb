"""Shared route dependencies: the gateway's parts, as annotated types handlers can ask for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from gateway.detection import DetectionService
from gateway.fanout import FanoutClient
from gateway.metrics import GatewayMetrics
from gateway.registry import Registry
from gateway.settings import GatewaySettings


@dataclass
class Gateway:
    """Everything one gateway app holds; stored on ``app.state.gateway``."""

    settings: GatewaySettings
    registry: Registry
    fanout: FanoutClient
    service: DetectionService
    metrics: GatewayMetrics


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


RequestIdDep = Annotated[str | None, Depends(request_id)]
