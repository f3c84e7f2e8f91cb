"""make bench --suite unseen (issue 12): held-out originals, their two uploads, the figures and a real run."""

import csv
import io

import numpy as np
import pytest
from PIL import Image

import benchmark.package_export as package_export
from benchmark.sources import SourceImage
from scripts.bench import unseen
from support.stack import detector_entry


def _photo(path, size, fmt, exif=False):
    rng = np.random.default_rng(len(str(path)))
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    kwargs = {}
    if exif:
        e = Image.Exif()
        e[0x010F] = "CameraMaker"
        kwargs["exif"] = e
    img.save(path, format=fmt, **kwargs)


def _package(tmp_path, monkeypatch):
    """Three originals (a JPEG photo with EXIF, a WebP still, a PNG with a badge box) and their manifest."""
    files = {
        "photo.jpg": ("real", "JPEG", (640, 480), None, True),
        "still.webp": ("fake", "WEBP", (384, 384), None, False),
        "badge.png": ("fake", "PNG", (400, 400), (0.0, 0.25, 1.0, 1.0), False),
    }
    sources, rows = [], []
    for name, (label, fmt, size, box, exif) in files.items():
        path = tmp_path / name
        _photo(path, size, fmt, exif)
        sources.append(
            SourceImage(
                path=path,
                label=label,
                source="real" if label == "real" else "flux",
                family="photo" if label == "real" else "ai_t2i",
                origin_package="pkg",
                origin_file=name,
                scene_key=name,
                licence="test",
                content_box=box,
            )
        )
        rows.append(
            {
                "source_path": name,
                "source_repo": "pypi:pkg",
                "label": "ai" if label == "fake" else "real",
                "generator": "flux" if label == "fake" else "real",
                "orig_format": fmt,
            }
        )
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    monkeypatch.setattr(package_export, "discover", lambda: package_export.Discovery(images=sources))
    monkeypatch.setattr(package_export, "source_path", lambda src: src.origin_file)
    monkeypatch.setattr(unseen, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(unseen, "ARTIFACTS_DIR", tmp_path / "artifacts")  # no stacking pass
    return manifest


def test_originals_are_sent_whole_and_a_badge_box_is_cut_off(tmp_path, monkeypatch):
    manifest = _package(tmp_path, monkeypatch)
    images, note = unseen.heldout_images(manifest)
    assert [i.name for i in images] == ["photo.jpg", "still.webp", "badge.png"]
    assert [i.is_fake for i in images] == [False, True, True]
    assert images[0].data == (tmp_path / "photo.jpg").read_bytes() and images[0].fmt == "jpeg"
    assert images[1].data == (tmp_path / "still.webp").read_bytes() and images[1].fmt == "webp"
    badge = Image.open(io.BytesIO(images[2].data))
    assert images[2].fmt == "png" and badge.size == (400, 300)  # the top quarter (the badge) is gone
    assert "3 originals of the 3 rows" in note


def test_the_stripped_upload_is_jpeg_q95_of_the_same_pixels_without_metadata(tmp_path, monkeypatch):
    images, _ = unseen.heldout_images(_package(tmp_path, monkeypatch))
    original = Image.open(io.BytesIO(images[0].data))
    assert original.getexif().get(0x010F) == "CameraMaker"
    stripped = Image.open(io.BytesIO(images[0].stripped_jpeg()))
    assert stripped.format == "JPEG" and stripped.size == original.size
    assert not stripped.getexif() and "exif" not in stripped.info
    diff = np.abs(np.asarray(stripped, dtype=float) - np.asarray(original.convert("RGB"), dtype=float))
    assert diff.mean() < 12  # q95 of noise: the same pixels up to compression


def test_no_package_corpus_says_how_to_build_it(tmp_path):
    assert unseen.run(manifest=tmp_path / "none.csv").startswith("Not measured: no package corpus")


def test_figures_count_only_answered_images_and_the_table_names_every_detector():
    images = [
        unseen.HeldOutImage(f"i{k}", "pypi:a" if k < 2 else "pypi:b", k >= 2, "flux", b"", "png")
        for k in range(4)
    ]
    scores = unseen.Scores()
    for answer in [
        {"score_fake": 0.2, "detectors": [{"name": "d", "prob_fake": 0.1}]},
        None,  # a failed request: left out, counted as failed
        {"score_fake": 0.7, "detectors": [{"name": "d", "prob_fake": 0.9}]},
        {"score_fake": 0.9, "detectors": [{"name": "d", "prob_fake": None}]},  # d abstained
    ]:
        scores.add(answer, ["d"])
    scores.errors.append("i1: HTTP 500")
    fig = unseen.figure(np.array([0, 0, 1, 1]), scores.by_name[unseen.FUSED])
    assert fig.n == 3 and fig.roc_auc == 1.0 and fig.accuracy == 1.0
    body = unseen.render(images, {"default": {unseen.VARIANTS[0]: scores}}, ["d"], "note", None)
    row = next(line for line in body.splitlines() if line.startswith("| default"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == ["default", "as-is", "3", "1.000", "1.000"] and cells[-1] == "1"
    assert "| pypi:b | AI | 2 | 0.800 | 1.000 |" in body


def test_the_scores_remember_which_fusion_answered():
    # The bench runs the default once and measures separately only the fusions it did not answer with.
    scores = unseen.Scores()
    scores.add({"score_fake": 0.4, "method": "stacking (image/20261208-021304)", "detectors": []}, [])
    scores.add({"score_fake": 0.6, "method": "stacking (image/20261208-021304)", "detectors": []}, [])
    scores.add(None, [])
    assert scores.methods == {"stacking"}


@pytest.mark.integration
@pytest.mark.slow
def test_the_suite_runs_against_a_real_stack_of_light_detectors(tmp_path, monkeypatch):
    from scripts.local_stack import LocalStack

    manifest = _package(tmp_path, monkeypatch)
    monkeypatch.setenv("TRIBUNAL_PROBE_LATENCY_MS", "5")
    registry = tmp_path / "detectors.yaml"
    LocalStack(registry_path=registry).write_registry(
        [detector_entry("metadata_provenance"), detector_entry("latency_probe")]
    )
    body = unseen.run(log=lambda _: None, registry=registry, manifest=manifest)
    rows = [line for line in body.splitlines() if line.startswith("| default")]
    assert len(rows) == 2  # as-is and stripped
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == "3" and cells[-1] == "0"  # every upload answered
    assert "latency_probe ROC-AUC" in body and "Not measured" not in body
