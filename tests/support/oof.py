"""A detector's out-of-fold answers file, as its train.py writes it (sdk/tribunal_sdk/oof_format.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from tribunal_sdk.oof_format import OOF_ANSWERS, OOF_FORMAT


def write_oof_file(
    detectors_dir: Path, package: str, scores: Mapping[str, float | None] | Iterable[float]
) -> Path:
    """``detectors_dir/<package>/weights/oof_answers.json`` holding ``scores``: P(fake) per image sha256
    (None: abstained), or a plain sequence of P(fake) given made-up sha256s."""
    if not isinstance(scores, Mapping):
        scores = {f"{i:064x}": float(p) for i, p in enumerate(scores)}
    body = {
        "format": OOF_FORMAT,
        "detector": package,
        "weights_sha256": ["f" * 64],
        "manifest_sha256": "e" * 64,
        "folds": 5,
        "answers": [{"sha256": sha, "prob_fake": p} for sha, p in scores.items()],
    }
    path = detectors_dir / package / "weights" / OOF_ANSWERS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    return path
