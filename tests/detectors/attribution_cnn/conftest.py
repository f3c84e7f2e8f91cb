"""Fixtures for attribution_cnn: weights made here (no trained default needed) and a tiny imported corpus."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.corpus import import_corpora
from detectors.attribution_cnn.detector import WEIGHTS_FILE, AttributionCnnDetector
from detectors.attribution_cnn.model import AttributionConfig, AttributionNet, save_weights
from support.textures import pink_noise
from tribunal_sdk import DetectorSpec
from tribunal_sdk.media import file_sha256

TINY_CLASSES = ["real", "flux", "sd"]


class FolderDetector(AttributionCnnDetector):
    """The real detector reading its weights from a test folder, with a spec pinned to them."""

    folder: Path

    def weights_path(self, filename: str) -> Path:
        return self.folder / filename


def spec_for(folder: Path, classes: list[str]) -> DetectorSpec:
    """The committed detector.yaml with the classes and sha256 of the weights in ``folder``."""
    spec = AttributionCnnDetector().spec.model_dump()
    spec["classes"] = classes
    spec["weights"][0]["sha256"] = file_sha256(folder / WEIGHTS_FILE)
    return DetectorSpec.model_validate(spec)


def detector_on(folder: Path, classes: list[str]) -> FolderDetector:
    detector = FolderDetector(spec=spec_for(folder, classes))
    detector.folder = folder
    return detector


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """A folder with a probe over the real ImageNet Lite0 backbone and a seeded random linear head."""
    folder = tmp_path_factory.mktemp("tiny_weights")
    torch.manual_seed(3)
    net = AttributionNet(AttributionConfig(stages=(4, 5, 6)), TINY_CLASSES, pretrained=False)
    with torch.no_grad():
        net.head.net[-1].weight.normal_(0.0, 0.05)
    net.temperature.fill_(1.5)
    save_weights(net, folder / WEIGHTS_FILE)
    return folder


@pytest.fixture
def make_detector(tiny_weights) -> Callable[[], FolderDetector]:
    """Build and load a detector on the tiny weights (after the test has set its environment)."""

    def build() -> FolderDetector:
        detector = detector_on(tiny_weights, TINY_CLASSES)
        detector.load()
        return detector

    return build


def _generated(kind: str, rng: np.random.Generator, side: int) -> Image.Image:
    """Photo-like noise for ``real``; noise up-sampled 2x (bilinear, nearest) for the two generators."""
    if kind == "real":
        return pink_noise(side, side + 40, rng, contrast=30.0)
    small = pink_noise(side // 2, side // 2 + 20, rng, contrast=30.0)
    return small.resize((side + 40, side), Image.BILINEAR if kind == "flux" else Image.NEAREST)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    """An imported corpus (benchmark.corpus.import_corpora) of 18 generated images: real and two
    generators, three sources each, two images a source, three folds. Returns its manifest."""
    root = tmp_path_factory.mktemp("tiny_corpus")
    raw = root / "raw"
    rng = np.random.default_rng(5)
    rows = []
    for kind in ("real", "flux", "sd"):
        for s in range(3):
            for i in range(2):
                rel = f"{kind}/src{s}/img{i}.png"
                (raw / rel).parent.mkdir(parents=True, exist_ok=True)
                _generated(kind, rng, 256 + 16 * s).save(raw / rel)
                label = "real" if kind == "real" else "ai"
                rows.append([rel, label, kind, f"{kind}-source-{s}"])
    manifest = raw / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "generator", "source_repo"])
        writer.writerows(rows)
    summary = import_corpora([manifest], root / "imported", folds=3, min_class_images=2)
    assert len(summary.rows) == 18
    return root / "imported" / "manifest.csv"
