"""Typed errors of the feedback routes; each becomes ``{"error", "detail"}`` with its status."""

from __future__ import annotations

from gateway.errors import NotFound


class NoFeedback(NotFound):
    """The caller has given no feedback on this analysis (yet, or any more)."""

    code = "no_feedback"

    def __init__(self, analysis_id: str):
        super().__init__(
            f"you have given no feedback on analysis {analysis_id!r}; "
            "POST /history/{id}/feedback with {'label': 'real' | 'ai'} to give it"
        )
