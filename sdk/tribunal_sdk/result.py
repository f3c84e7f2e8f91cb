"""What a detector returns: one Prediction per input, and the wire format of /predict."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field, model_validator

# Class probabilities may come out of a softmax in float16/float32; this much drift is renormalised.
_SUM_TOLERANCE = 1e-3


class Prediction(BaseModel):
    """One detector's verdict on one input, as written by a detector author in predict_batch()."""

    prob_fake: float | None = Field(None, ge=0.0, le=1.0, description="calibrated P(AI-generated)")
    class_probs: dict[str, float] | None = Field(
        None, description="attribution detectors: probabilities over their classes (one is 'real')"
    )
    abstained: bool = False
    reason: str | None = Field(None, description="why the detector abstained, e.g. no_evidence, no_face")
    details: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    @classmethod
    def abstain(cls, reason: str, warnings: list[str] | None = None, **details: Any) -> Prediction:
        """No evidence either way: fusion leaves this detector out instead of reading it as 0.5."""
        return cls(prob_fake=None, abstained=True, reason=reason, details=details, warnings=warnings or [])

    @model_validator(mode="after")
    def _consistent(self) -> Prediction:
        if self.abstained:
            if self.prob_fake is not None:
                raise ValueError("an abstaining prediction must not carry prob_fake")
            if not self.reason:
                raise ValueError("an abstaining prediction needs a reason")
            return self
        if self.prob_fake is None or math.isnan(self.prob_fake):
            raise ValueError("prob_fake is required unless the detector abstains")
        if self.class_probs is not None:
            if any(p < 0 or math.isnan(p) for p in self.class_probs.values()):
                raise ValueError("class_probs must be non-negative numbers")
            total = sum(self.class_probs.values())
            if abs(total - 1.0) > _SUM_TOLERANCE:
                raise ValueError(f"class_probs must sum to 1 (got {total:.4f})")
            self.class_probs = {k: v / total for k, v in self.class_probs.items()}
        return self


class PredictResponse(BaseModel):
    """The body of a detector's POST /predict answer (the contract in DESIGN.md)."""

    detector: str
    version: str
    prob_fake: float | None
    class_probs: dict[str, float] | None = None
    abstained: bool = False
    reason: str | None = None
    heatmap_png: str | None = Field(None, description="base64 PNG when ?explain=true")
    elapsed_ms: float
    warnings: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
