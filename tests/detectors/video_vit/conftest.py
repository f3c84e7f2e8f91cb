"""Fixtures for the video detector tests: the shipped default weights, loaded once per session."""

from __future__ import annotations

import pytest
import torch

from detectors.video_vit.detector import VideoVitDetector
from detectors.video_vit.options import VideoVitOptions


@pytest.fixture(scope="session", autouse=True)
def _two_threads():
    # The machine has two cores shared with other work; more threads only contend.
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def detector() -> VideoVitDetector:
    """The detector as `make start` runs it (faces mode, pinned default weights)."""
    d = VideoVitDetector(options=VideoVitOptions())
    d.load()
    return d


@pytest.fixture(scope="session")
def frames_detector(detector: VideoVitDetector) -> VideoVitDetector:
    """Same model, "frames" mode (shares the loaded weights)."""
    d = VideoVitDetector(options=VideoVitOptions(mode="frames"))
    d.loaded, d.faces, d._weights_info = detector.loaded, detector.faces, detector._weights_info
    d.faces_calibration = detector.faces_calibration  # faces mode only; frames mode ignores it
    return d
