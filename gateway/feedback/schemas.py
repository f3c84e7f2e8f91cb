"""Bodies of the feedback routes, and the generator names a correction may give."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from tribunal_sdk.taxonomy import PUBLIC_CLASSES, REAL, UNKNOWN_AI

FeedbackLabel = Literal["real", "ai"]
# The user-facing generator families (tribunal_sdk.taxonomy.PUBLIC_CLASSES) an AI-made correction may
# name; ``unknown_ai`` is "AI-made, generator unknown", the same as giving none.
GENERATORS: tuple[str, ...] = tuple(name for name in PUBLIC_CLASSES if name != REAL)
MAX_NOTE = 1000


class FeedbackIn(BaseModel):
    """What the caller says the media actually is."""

    label: FeedbackLabel = Field(description="'real': not AI-made; 'ai': AI-made")
    generator: str | None = Field(
        default=None,
        description="with label 'ai' only: the generator family, one of GET /feedback/generators",
    )
    note: str | None = Field(default=None, max_length=MAX_NOTE, description="free text, for the admins")

    @field_validator("generator")
    @classmethod
    def _known_family(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        name = value.strip().lower()
        if name not in GENERATORS:
            raise ValueError(f"unknown generator {value!r}; choose one of: {', '.join(GENERATORS)}")
        return None if name == UNKNOWN_AI else name

    @field_validator("note")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    @model_validator(mode="after")
    def _generator_needs_ai(self) -> FeedbackIn:
        if self.label == "real" and self.generator is not None:
            raise ValueError("a generator goes with label 'ai' only; leave it out for 'real'")
        return self


class FeedbackOut(BaseModel):
    """One user's current feedback on one analysis."""

    analysis_id: str
    username: str
    label: FeedbackLabel
    generator: str | None = Field(description="null: AI-made, generator not given (or label 'real')")
    note: str | None
    verdict: str = Field(description="the analysis' verdict the feedback is about")
    agrees: bool | None = Field(
        description="the verdict said the same (fake for 'ai', real for 'real'); null for an uncertain verdict"
    )
    created_at: datetime
    updated_at: datetime


class FeedbackOptions(BaseModel):
    labels: list[FeedbackLabel]
    generators: list[str] = Field(description="the generator families a correction may name")
