"""Python client and ``tribunal`` command for the Tribunal gateway."""

from __future__ import annotations

__version__ = "0.1.0"

from tribunal_client.client import AsyncTribunalClient, TribunalClient
from tribunal_client.config import ClientConfig, resolve_config
from tribunal_client.errors import (
    AuthError,
    BadRequest,
    ConfigError,
    ConnectionFailed,
    NotFound,
    RateLimited,
    ServerError,
    TribunalError,
    Unavailable,
)
from tribunal_client.models import (
    Attribution,
    Detection,
    DetectorResult,
    HistoryItem,
    HistoryPage,
    Job,
    JobItem,
    JobPage,
    JobProgress,
    JobResult,
    ModelInfo,
    Models,
    Tokens,
)

__all__ = [
    "AsyncTribunalClient",
    "Attribution",
    "AuthError",
    "BadRequest",
    "ClientConfig",
    "ConfigError",
    "ConnectionFailed",
    "Detection",
    "DetectorResult",
    "HistoryItem",
    "HistoryPage",
    "Job",
    "JobItem",
    "JobPage",
    "JobProgress",
    "JobResult",
    "ModelInfo",
    "Models",
    "NotFound",
    "RateLimited",
    "ServerError",
    "Tokens",
    "TribunalClient",
    "TribunalError",
    "Unavailable",
    "resolve_config",
]
