"""A plain detection answer to record in the history (the tests that write rows directly)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from gateway.schemas import DetectionAnswer
from tribunal_sdk.client import DetectorOutcome, DetectorStatus


def make_answer(**fields: Any) -> DetectionAnswer:
    """An image answer (two detectors agreeing on fake, by default); ``fields`` replace any of its fields."""
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "sha256": secrets.token_hex(32),
        "media_type": "image",
        "verdict": "fake",
        "score_fake": 0.8,
        "confidence": 0.6,
        "method": "average",
        "threshold": 0.5,
        "attribution": None,
        "detectors": [
            DetectorOutcome(name=f"det{i}", status=DetectorStatus.OK, prob_fake=0.8, elapsed_ms=5.0)
            for i in range(2)
        ],
        "degraded": False,
        "missing": [],
        "warnings": [],
        "elapsed_ms": 12.5,
    }
    return DetectionAnswer(**{**values, **fields})
