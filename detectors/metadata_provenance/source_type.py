"""The IPTC digital source type vocabulary, shared by XMP and C2PA readers.

Both IPTC photo metadata (``Iptc4xmpExt:DigitalSourceType``) and C2PA actions
(``digitalSourceType``) use the terms of http://cv.iptc.org/newscodes/digitalsourcetype/, written
either as the full URL or as the bare term.
"""

from __future__ import annotations

from typing import Literal

SourceClass = Literal["ai", "composite_ai", "capture", "other"]

# Made by a model trained on data: what Tribunal calls fake.
AI_GENERATED = {"trainedalgorithmicmedia"}
# A capture or creation with AI-generated parts (e.g. generative fill): partly fake.
COMPOSITE_AI = {"compositewithtrainedalgorithmicmedia"}
# Light from a real scene reached a sensor or film, possibly corrected by a person afterwards.
CAPTURED = {
    "digitalcapture",
    "computationalcapture",
    "negativefilm",
    "positivefilm",
    "print",
    "minorhumanedits",
    "compositecapture",
}


def source_term(value: str) -> str:
    """The vocabulary term of a source type value, lower-cased: the URL's last segment or the bare term."""
    return value.strip().rstrip("/").rsplit("/", 1)[-1].lower()


def classify(value: str) -> SourceClass:
    """Which side of Tribunal's question a digital source type value falls on."""
    term = source_term(value)
    if term in AI_GENERATED:
        return "ai"
    if term in COMPOSITE_AI:
        return "composite_ai"
    if term in CAPTURED:
        return "capture"
    # digitalCreation, algorithmicMedia, screenCapture, ...: made by people or non-learned
    # algorithms; neither a capture of a scene nor AI-generated, so no evidence either way.
    return "other"
