"""Synthetic detector answers and ready-made meta-learner artifacts, for the meta-learner and gateway tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from meta_learner import artifacts
from meta_learner.calibration import Calibrator
from meta_learner.classifiers import get_classifier
from meta_learner.features import DetectorScore, FeatureSpec, Observation, encode
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
            "strong": DetectorScore(sigmoid(2.0 * sign + rng.normal(0, 1.0))),
            "weak": DetectorScore(sigmoid(0.6 * sign + rng.normal(0, 1.0))),
            "attr": DetectorScore(
                attr, {"real": 1 - attr, "flux": attr * flux_share, "sim": attr * (1 - flux_share)}
            ),
        }
        if rng.random() < metadata_rate:
            observation["meta"] = DetectorScore(0.97 if y else 0.2)
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


# An imported corpus and detectors' out-of-fold answers (make retrain on a corpus) -------------------

# (source, label, family, fold): every source in one fold, each fold with real and AI images.
TINY_CORPUS_SOURCES = (
    ("cams:alice", "real", "real", 0),
    ("cams:bob", "real", "real", 1),
    ("cams:carol", "real", "real", 2),
    ("cams:dave", "real", "real", 3),
    ("gens:sd-prompts", "fake", "sd", 0),
    ("gens:sd-gallery", "fake", "sd", 1),
    ("gens:flux-demo", "fake", "flux", 2),
    ("gens:flux-art", "fake", "flux", 3),
)


def write_tiny_corpus(root: Path, per_source: int = 10, size: int = 32, seed: int = 0) -> Path:
    """An imported corpus in the layout ``make benchmark CORPUS=...`` writes (benchmark/corpus.py's own
    writer): JPEGs named by sha256 and manifest.csv with the folds of TINY_CORPUS_SOURCES, each source
    whole. Written directly rather than through the import (support/tiny_corpus.py does that) so the
    tests know every fold, and it takes a fraction of a second."""
    from benchmark.corpus import CorpusRow, write_imported
    from support.tiny_benchmark import tiny_image
    from tribunal_sdk.media import file_sha256

    rng = np.random.default_rng(seed)
    rows = []
    for source, label, family, fold in TINY_CORPUS_SOURCES:
        for i in range(per_source):
            kind = "real" if label == "real" else ("flux" if family == "flux" else "sim_nearest_conv")
            tmp = root / "incoming" / f"{source.replace(':', '_')}_{i}.jpg"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tiny_image(kind, rng, size).save(tmp, quality=95)
            sha = file_sha256(tmp)
            rel = Path("images") / sha[:2] / f"{sha}.jpg"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(root / rel)
            rows.append(
                CorpusRow(
                    path=rel,
                    label=label,
                    generator=family,
                    family=family,
                    class_name=family,
                    source=source,
                    fold=fold,
                    corpus="tiny",
                    origin_path=f"{source}/{i}.jpg",
                    subset="general",
                    orig_format="JPEG",
                    orig_width=size,
                    orig_height=size,
                    stored_side=size,
                    sha256=sha,
                    phash="0" * 16,
                )
            )
    (root / "incoming").rmdir()
    manifest = root / "manifest.csv"
    write_imported(manifest, rows)
    return manifest


def write_oof_file(
    path: Path,
    detector: str,
    manifest: Path,
    score,
    weights_sha256: tuple[str, ...] = ("a" * 64,),
    classes: tuple[str, ...] | None = None,
) -> Path:
    """``path`` written by the detectors' own writer (detectors/common/corpus_training.py), with
    ``score(sha256) -> P(fake)`` as each image's out-of-fold answer; attribution classes share it."""
    from detectors.common.corpus_training import CorpusSet, write_oof_answers

    corpus = CorpusSet.load(manifest)
    probs = np.asarray([score(row.sha256) for row in corpus.rows])
    class_probs = None
    if classes:
        fakes = [c for c in classes if c != "real"]
        class_probs = np.asarray([[1 - p if c == "real" else p / len(fakes) for c in classes] for p in probs])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_oof_answers(path, detector, corpus, probs, list(weights_sha256), class_probs, classes)
    return path
