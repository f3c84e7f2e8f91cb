"""The training side: clips with camera motion and real codecs, self-blended faces, the train script."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detectors.video_vit import train
from detectors.video_vit.clips import CODECS, ClipPlan, camera_path, temporary_clip
from detectors.video_vit.faces import HaarFaceDetector
from detectors.video_vit.sbi import blend_mask, self_blend
from detectors.video_vit.trainset import largest_face, offline_face_stills
from detectors.video_vit.weights import load_default
from support.tiny_benchmark import make_tiny_benchmark
from support.video import astronaut_face, background
from tribunal_sdk.video import VideoLimits, iter_sampled_frames


@pytest.mark.parametrize("codec", CODECS)
def test_clips_go_through_each_real_codec_and_decode_back(codec):
    rng = np.random.default_rng(0)
    still = background((320, 240))
    plan = ClipPlan(n_frames=6, fps=10.0, size=(160, 120), codec=codec)
    with temporary_clip(still, plan, rng) as (path, probe):
        assert path.suffix == f".{codec[0]}"
        frames = list(iter_sampled_frames(path, 6, probe, VideoLimits()))
    assert len(frames) == 6 and frames[0][1].shape == (120, 160, 3)


def test_the_camera_moves_smoothly_and_stays_inside_the_still():
    rng = np.random.default_rng(3)
    maps = camera_path(rng, (400, 600, 3), (200, 150), 10)
    corners = []
    for matrix in maps:
        inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
        # Where the output's corners come from in the still (roll and shake may push a pixel or two out).
        corners.append([inverse @ np.array([x, y, 1.0]) for x, y in ((0, 0), (200, 150))])
    corners = np.array(corners)
    assert corners[..., 0].min() > -20 and corners[..., 0].max() < 620
    steps = np.abs(np.diff(corners, axis=0)).max()
    assert 0 < steps < 40  # it moves, but like a camera, not a cut


def test_a_self_blended_face_differs_only_inside_its_soft_mask():
    image = np.ascontiguousarray(background((300, 300), seed=2))
    face = astronaut_face()
    image[50 : 50 + face.shape[0], 60 : 60 + face.shape[1]] = face[:250, :240]
    box = HaarFaceDetector().detect(image)[0]
    rng = np.random.default_rng(5)
    fake, mask = self_blend(image, box, rng)
    assert fake.shape == image.shape and fake.dtype == np.uint8
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    changed = np.abs(fake.astype(int) - image.astype(int)).max(axis=2) > 0
    assert changed.any()
    assert (mask[changed] > 0).all()  # nothing changes where the mask is zero
    x, y, w, h = box
    inside = mask[y : y + h, x : x + w].mean()
    assert inside > 2 * mask.mean() and mask[:10, :10].max() == 0  # the face, not the corner
    # Masks vary from draw to draw (deformation, erosion/dilation, blur).
    other = blend_mask(image.shape, box, np.random.default_rng(6))
    assert not np.allclose(other, blend_mask(image.shape, box, np.random.default_rng(7)))


def test_the_offline_face_photos_have_findable_faces():
    stills = offline_face_stills()
    assert {"astronaut", "grace_hopper"} <= set(stills)
    haar = HaarFaceDetector()
    for still in stills.values():
        assert largest_face(haar, still) is not None


def test_pin_sha256_rewrites_only_that_weights_entry(tmp_path):
    spec = tmp_path / "detector.yaml"
    spec.write_text(
        "weights:\n  # comment kept\n  - file: a.safetensors\n    sha256: null\n"
        "  - file: b.pth\n    sha256: " + "1" * 64 + "\n"
    )
    train.pin_sha256(spec, "a.safetensors", "f" * 64)
    text = spec.read_text()
    assert "sha256: " + "f" * 64 in text and "sha256: " + "1" * 64 in text and "# comment kept" in text
    with pytest.raises(RuntimeError):
        train.pin_sha256(spec, "missing.pth", "0" * 64)


def test_train_runs_end_to_end_on_a_tiny_benchmark(tmp_path):
    make_tiny_benchmark(tmp_path / "bench", per_class={"train": 2, "val": 1, "test": 1}, size=96)
    out = tmp_path / "out"
    train.main(
        [
            "--benchmark", str(tmp_path / "bench"), "--out", str(out), "--face-clips", "4",
            "--face-frames", "1", "--frames-train", "2", "--frames-val", "1", "--frames-test", "1",
            "--epochs", "1", "--no-pin",
        ]
    )  # fmt: skip
    loaded = load_default(out / train.WEIGHTS_FILE)
    assert loaded.training["face_people"] == ["astronaut", "grace_hopper"]
    report = json.loads((out / "training_report.json").read_text())
    assert set(report["face_leave_one_person_out"]) == {"astronaut", "grace_hopper"}
    assert report["frames_benchmark_test"]["clips"] == 2  # one real and one AI clip (1 per label)
    card = (out / "MODEL_CARD.md").read_text()
    assert report["sha256"] in card and "cannot" in card.lower()
