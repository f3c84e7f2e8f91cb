"""Synthetic detector answers and ready-made meta-learner artifacts, for the meta-learner and gateway tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from meta_learner import artifacts
from meta_learner.calibration import Calibrator
from meta_learner.classifiers import get_classifier
from meta_learner.features import DetectorAnswer, FeatureSpec, Observation, encode
from meta_learner.train import TrainingData


def sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def synthetic_data(n: int = 240, seed: int = 0, metadata_rate: float = 0.1) -> TrainingData:
    """Rows where ``strong`` separates well, ``weak`` a little, ``attr`` is an attribution detector and
    ``meta`` mostly abstains (as the metadata detector does on re-encoded JPEGs)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    observations: list[Observation] = []
    for y in labels:
        sign = 1.0 if y else -1.0
        attr = sigmoid(1.2 * sign + rng.normal(0, 1.0))
        flux_share = rng.uniform(0.5, 0.9)
        observation = {
            "strong": DetectorAnswer(sigmoid(2.0 * sign + rng.normal(0, 1.0))),
            "weak": DetectorAnswer(sigmoid(0.6 * sign + rng.normal(0, 1.0))),
            "attr": DetectorAnswer(
                attr, {"real": 1 - attr, "flux": attr * flux_share, "sim": attr * (1 - flux_share)}
            ),
        }
        if rng.random() < metadata_rate:
            observation["meta"] = DetectorAnswer(0.97 if y else 0.2)
        observations.append(observation)
    splits = rng.choice(["train", "val", "test"], n, p=[0.3, 0.4, 0.3])
    spec = FeatureSpec(
        media_type="image", detectors=["strong", "weak", "attr", "meta"], classes={"attr": ["flux", "sim"]}
    )
    return TrainingData(
        spec=spec,
        observations=observations,
        labels=labels,
        splits=splits,
        groups=np.asarray([f"scene-{i // 2}" for i in range(n)]),
        sources=np.where(labels == 1, "gen", "photo"),
    )


def make_manifest(
    spec: FeatureSpec,
    version: str,
    classifier: str = "logistic_regression",
    versions: dict[str, str] | None = None,
) -> artifacts.ArtifactManifest:
    return artifacts.ArtifactManifest(
        version=version,
        media_type=spec.media_type,
        created_at=datetime.now(UTC),
        classifier=classifier,
        params={},
        model_format=get_classifier(classifier).model_format,
        model_file="",
        model_sha256="",
        features=spec.names,
        spec=spec,
        detector_versions=versions or dict.fromkeys(spec.detectors, "1.2.3"),
        detector_fingerprints=dict.fromkeys(spec.detectors, "1.2.3"),
        calibrator=Calibrator(method="platt"),
        training_data_hash="0" * 64,
        metrics={},
        config={},
    )


def save_fitted_artifact(
    root: Path,
    version: str,
    detectors: tuple[str, ...] = ("strong", "weak", "attr", "meta"),
    classifier: str = "logistic_regression",
    versions: dict[str, str] | None = None,
    deploy: bool = True,
) -> Path:
    """Fit ``classifier`` on synthetic rows restricted to ``detectors`` and save (and deploy) it."""
    data = synthetic_data(160)
    classes = {"attr": ["flux", "sim"]} if "attr" in detectors else {}
    spec = FeatureSpec(media_type="image", detectors=list(detectors), classes=classes)
    observations = [{k: v for k, v in o.items() if k in detectors} for o in data.observations]
    info = get_classifier(classifier)
    model = info.build(info.grid[-1], 0).fit(encode(spec, observations), data.labels)
    path = artifacts.save_artifact(root, make_manifest(spec, version, classifier, versions), model)
    if deploy:
        artifacts.deploy(root, "image", version)
    return path
