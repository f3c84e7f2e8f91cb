"""Per-process settings of a detector service (environment variables prefixed ``TRIBUNAL_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tribunal_sdk.media import MediaLimits
from tribunal_sdk.memory import MemorySettings


class ServiceSettings(MemorySettings):
    """How one detector process runs. CLI flags of ``serve()`` override these.

    The memory budget (``TRIBUNAL_MEMORY_BUDGET_MB``, ``TRIBUNAL_MEMORY_WAIT_S``) comes from
    ``MemorySettings``: see tribunal_sdk/memory.py.
    """

    model_config = SettingsConfigDict(env_prefix="TRIBUNAL_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8100, ge=1, le=65535)
    device: str = Field("auto", description="auto (cuda when present, else cpu), cpu, cuda or cuda:N")
    load_mode: Literal["eager", "lazy"] = Field(
        "eager", description="eager: load in the background at start; lazy: on the first /predict or /ready"
    )
    max_batch_size: int | None = Field(None, ge=1, description="overrides detector.yaml batching")
    max_delay_ms: float | None = Field(None, ge=0, description="overrides detector.yaml batching")
    max_upload_mb: float = Field(50.0, gt=0)
    max_pixels: int = Field(40_000_000, gt=0)
    lazy_load_timeout_s: float = Field(300.0, gt=0)
    cpu_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads the model may use (torch intra-op, OpenMP, BLAS); unset: the libraries' "
        "default, every core. Set it when several detectors share a machine: oversubscribed cores "
        "made two torch detectors five times slower here.",
    )
    log_level: str = "info"

    def media_limits(self) -> MediaLimits:
        return MediaLimits(max_bytes=int(self.max_upload_mb * 1024 * 1024), max_pixels=self.max_pixels)


def resolve_device(requested: str) -> str:
    """``auto`` picks CUDA when torch sees a GPU, else the CPU. torch is imported only when needed."""
    if requested != "auto":
        return requested
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
