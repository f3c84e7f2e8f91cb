"""Whether the answers that came back are enough to give a verdict."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.errors import HardDependencyFailed, NoDetectorAvailable
from gateway.registry import DetectorEntry
from tribunal_sdk.client import DetectorOutcome


def require_answers(
    asked: Sequence[DetectorEntry], outcomes: Sequence[DetectorOutcome], nobody_answered: str
) -> None:
    """503 when nobody answered, or when a hard dependency failed; the body names each detector.

    ``nobody_answered`` starts the first message ("no detector for image could answer")."""
    summary = [{"name": o.name, "status": o.status.value, "error": o.error} for o in outcomes]
    if not any(o.answered for o in outcomes):
        listed = ", ".join(f"{o.name} ({o.status.value}: {o.error})" for o in outcomes)
        raise NoDetectorAvailable(f"{nobody_answered}: {listed}", extra={"detectors": summary})
    hard = {entry.name for entry in asked if entry.dependency == "hard"}
    broken = [o for o in outcomes if o.name in hard and o.failed]
    if broken:
        listed = ", ".join(f"{o.name} ({o.status.value}: {o.error})" for o in broken)
        raise HardDependencyFailed(
            f"required detector(s) failed: {listed}",
            extra={"failed": [o.name for o in broken], "detectors": summary},
        )
