"""Detectors' out-of-fold answers (meta_learner/oof.py): read what the detectors' writer writes, refuse a mismatch."""

from __future__ import annotations

import json

import pytest

from benchmark.corpus import read_imported
from gateway.registry import DetectorEntry
from meta_learner import paths
from meta_learner.oof import OOF_FORMAT, OofError, oof_path, read_oof_answers
from meta_learner.query import Fingerprint
from support.meta_learning import write_oof_file, write_tiny_corpus
from tribunal_sdk.media import file_sha256

WEIGHTS = ("a" * 64, "b" * 64)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    manifest = write_tiny_corpus(tmp_path_factory.mktemp("corpus"), per_source=3)
    return manifest, read_imported(manifest)


def fingerprint(name="alpha", weights=WEIGHTS, classes=()):
    return Fingerprint(name=name, version="1.0.0", weights_sha256=list(weights), classes=list(classes))


def test_the_writers_file_reads_back_with_every_answer_and_class(tmp_path, corpus):
    manifest, rows = corpus
    labels = {r.sha256: r.is_fake for r in rows}
    path = write_oof_file(
        tmp_path / "oof_answers.json",
        "alpha",
        manifest,
        lambda sha: 0.8 if labels[sha] else 0.1,
        weights_sha256=tuple(reversed(WEIGHTS)),  # the order of the weight files does not matter
        classes=("real", "flux", "sd"),
    )
    assert json.loads(path.read_text())["format"] == OOF_FORMAT  # the writer's format is the one we read
    answers = read_oof_answers(path, fingerprint(classes=["flux", "sd"]), file_sha256(manifest))
    assert answers.folds == 4 and answers.listed == set(labels)
    for row in rows:
        answer = answers.get(row.sha256)
        assert answer.prob_fake == pytest.approx(0.8 if row.is_fake else 0.1)
        assert answer.class_probs["flux"] == pytest.approx(answer.prob_fake / 2)
    # A binary detector's features have no classes: whatever class_probs the file has are not used.
    binary = read_oof_answers(path, fingerprint(), file_sha256(manifest))
    assert binary.get(rows[0].sha256).class_probs is None


def test_other_weights_name_the_command_that_rewrites_them(tmp_path, corpus):
    manifest, _ = corpus
    path = write_oof_file(
        tmp_path / "oof.json", "alpha", manifest, lambda sha: 0.5, weights_sha256=("c" * 64,)
    )
    with pytest.raises(
        OofError, match=r"belong to weights \[cccccccccccc\].*serves \[aaaaaaaaaaaa, bbbbbbbbbbbb\]"
    ) as err:
        read_oof_answers(path, fingerprint(), file_sha256(manifest))
    assert "make train-detector NAME=alpha" in str(err.value)


def test_answers_for_another_import_say_so(tmp_path, corpus):
    manifest, _ = corpus
    path = write_oof_file(tmp_path / "oof.json", "alpha", manifest, lambda sha: 0.5, weights_sha256=WEIGHTS)
    with pytest.raises(OofError, match="trained on another corpus import") as err:
        read_oof_answers(path, fingerprint(), "f" * 64)
    assert "make train-detector NAME=alpha" in str(err.value) and "--manifest" in str(err.value)


def test_a_foreign_format_another_detector_or_a_broken_file_is_refused(tmp_path, corpus):
    manifest, _ = corpus
    path = write_oof_file(tmp_path / "oof.json", "alpha", manifest, lambda sha: 0.5, weights_sha256=WEIGHTS)
    payload = json.loads(path.read_text())
    sha = file_sha256(manifest)

    path.write_text(json.dumps({**payload, "format": "tribunal.oof_answers/2"}))
    with pytest.raises(OofError, match=r"format 'tribunal.oof_answers/2'.*make train-detector NAME=alpha"):
        read_oof_answers(path, fingerprint(), sha)
    path.write_text(json.dumps({**payload, "detector": "beta"}))
    with pytest.raises(OofError, match="holds the answers of 'beta', not of 'alpha'"):
        read_oof_answers(path, fingerprint(), sha)
    path.write_text(json.dumps({**payload, "answers": [{"sha256": "x", "prob_fake": 2.0}]}))
    with pytest.raises(
        OofError, match=r"not a readable out-of-fold answers file.*make train-detector NAME=alpha"
    ):
        read_oof_answers(path, fingerprint(), sha)
    with pytest.raises(FileNotFoundError):
        read_oof_answers(tmp_path / "none.json", fingerprint(), sha)


def test_classes_the_detector_does_not_serve_are_refused(tmp_path, corpus):
    manifest, _ = corpus
    path = write_oof_file(
        tmp_path / "oof.json",
        "alpha",
        manifest,
        lambda sha: 0.5,
        weights_sha256=WEIGHTS,
        classes=("real", "dalle"),
    )
    with pytest.raises(OofError, match=r"classes \['dalle'\], which alpha does not serve"):
        read_oof_answers(path, fingerprint(classes=["flux"]), file_sha256(manifest))


def test_the_file_lives_beside_the_weights_of_the_registry_entrys_package():
    entry = DetectorEntry(
        name="clip", package="clip_universal", url="http://x", port=9000, media_types=["image"]
    )
    assert oof_path(entry) == paths.DETECTORS_DIR / "clip_universal" / "weights" / "oof_answers.json"
    plain = DetectorEntry(name="fft_spectral", url="http://x", port=9000, media_types=["image"])
    assert oof_path(plain) == paths.REPO_ROOT / "detectors" / "fft_spectral" / "weights" / "oof_answers.json"


def test_answers_of_a_head_over_fixed_backbones_match_a_detector_that_also_lists_the_backbones(
    tmp_path, corpus
):
    manifest, _ = corpus
    head = WEIGHTS[0]
    path = write_oof_file(tmp_path / "oof.json", "alpha", manifest, lambda sha: 0.5, weights_sha256=(head,))
    served = fingerprint(weights=(head, "e" * 64, "f" * 64))  # /info also names the ImageNet backbone files
    assert read_oof_answers(path, served, file_sha256(manifest)).folds == 4
