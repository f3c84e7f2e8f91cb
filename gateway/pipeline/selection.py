"""Which detectors a request asks: a plan's groups, narrowed by the request's ``models``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.errors import NoDetectorForMediaType, NoModelSelected
from gateway.registry import DetectorEntry, Registry
from tribunal_sdk.client import DetectorOutcome

if TYPE_CHECKING:
    from gateway.pipeline.plan import MediaPlan


@dataclass(frozen=True)
class Selection:
    asked: dict[str, list[DetectorEntry]]  # by group, as the plan named them
    skipped: list[DetectorOutcome]  # enabled but left out by ``models``; reported as "skipped"
    notes: list[str]  # why a requested model was not asked

    @property
    def entries(self) -> list[DetectorEntry]:
        return [entry for group in self.asked.values() for entry in group]

    @property
    def weights(self) -> dict[str, float]:
        return {entry.name: entry.weight for entry in self.entries}


def select(registry: Registry, plan: MediaPlan, models: list[str] | None) -> Selection:
    """Every candidate of the plan, or those named in ``models``.

    415 when the plan has no candidate at all; 422 when ``models`` names none of them."""
    groups = plan.groups()
    candidates = [entry for group in groups.values() for entry in group]
    if not candidates:
        raise NoDetectorForMediaType(plan.no_detector())
    if not models:
        return Selection(groups, [], [])
    asked = {name: [entry for entry in group if entry.name in models] for name, group in groups.items()}
    skipped = [
        DetectorOutcome.skipped(entry.name, "not in the request's models")
        for entry in candidates
        if entry.name not in models
    ]
    notes = []
    for name in models:
        entry = registry.get(name)
        if entry is not None and entry not in candidates:
            why = "is disabled" if not entry.enabled else plan.not_in_a_group(entry)
            notes.append(f"{name} was not asked: it {why}")
    if not any(asked.values()):
        raise NoModelSelected(
            f"none of the requested models can analyse {plan.subject}: " + "; ".join(notes),
            extra={"requested": models, "available": [entry.name for entry in candidates]},
        )
    return Selection(asked, skipped, notes)
