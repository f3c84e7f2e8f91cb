"""The detection answer, built the same way for every media type."""

from __future__ import annotations

import time
import uuid

from gateway.attribution import Attribution
from gateway.pipeline.plan import Fused, Gathered
from gateway.pipeline.selection import Selection
from gateway.schemas import DetectionAnswer


def build_answer(
    *,
    sha256: str,
    media_type: str,
    threshold: float,
    selection: Selection,
    gathered: Gathered,
    fused: Fused,
    attribution: Attribution | None,
    started: float,
) -> DetectionAnswer:
    """Every asked detector's outcome, then the skipped ones; each failure named in ``missing`` and in a
    warning, after the notes on the selection and the inputs and before the fusion's own."""
    failed = [o for o in gathered.outcomes if o.failed]
    warnings = [
        *selection.notes,
        *gathered.notes,
        *(f"{o.name} {o.status.value}: {o.error}" for o in failed),
        *fused.warnings,
    ]
    return DetectionAnswer(
        id=uuid.uuid4().hex,
        sha256=sha256,
        media_type=media_type,
        verdict=fused.result.verdict,
        score_fake=fused.result.score_fake,
        confidence=fused.result.confidence,
        method=fused.result.method,
        threshold=threshold,
        attribution=attribution,
        detectors=[*gathered.outcomes, *selection.skipped],
        degraded=bool(failed),
        missing=[o.name for o in failed],
        warnings=warnings,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        video=fused.video,
    )
