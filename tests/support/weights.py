"""Service tests of a detector need its trained default weights; until they exist, say so and skip."""

from __future__ import annotations

import pytest

from tribunal_sdk import Detector, DetectorSpec


def require_trained_weights(detector_cls: type[Detector]) -> None:
    """Skip while detector.yaml pins no sha256 (never trained here). Once a sha256 is pinned, a missing
    or different file is a failure, not a skip: the service tests then load exactly the pinned file."""
    spec = DetectorSpec.from_yaml(detector_cls.directory() / detector_cls.spec_file)
    untrained = [w.file for w in spec.weights if w.sha256 is None]
    if untrained:
        pytest.skip(
            f"{spec.name} has no trained default weights yet ({', '.join(untrained)} not pinned in "
            f"detector.yaml): run `make benchmark && make train-detector NAME={spec.name}`"
        )
