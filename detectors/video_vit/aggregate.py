"""From per-face probabilities to one video score: the published rule.

Each track's score is the mean of its faces' sigmoid outputs. The video's score is the first track
whose score is above 0.55 (one manipulated person makes the video fake, however many real people
stand beside them), otherwise the mean of the track scores. The published decision threshold on the
result is 0.6.
"""

from __future__ import annotations

from collections.abc import Sequence

TRACK_FAKE_RULE = 0.55
PUBLISHED_DECISION_THRESHOLD = 0.6


def track_score(face_probs: Sequence[float]) -> float:
    """Mean of one track's per-face probabilities."""
    if not face_probs:
        raise ValueError("a track needs at least one face score")
    return sum(face_probs) / len(face_probs)


def video_score(track_scores: Sequence[float], rule: float = TRACK_FAKE_RULE) -> float:
    """The first track score above ``rule``, else the mean of all track scores (tracks in order)."""
    if not track_scores:
        raise ValueError("a video score needs at least one track")
    for score in track_scores:
        if score > rule:
            return score
    return sum(track_scores) / len(track_scores)
