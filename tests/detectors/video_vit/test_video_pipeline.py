"""The published pipeline's steps: sampling, streaming, faces, tracks, crops, aggregation."""

from __future__ import annotations

import inspect

import cv2
import numpy as np
import pytest

from detectors.video_vit.aggregate import TRACK_FAKE_RULE, track_score, video_score
from detectors.video_vit.crops import (
    face_input,
    isotropic_resize,
    pad_to_square,
    square_box,
    to_input,
    to_tensor,
)
from detectors.video_vit.faces import HaarFaceDetector
from detectors.video_vit.tracks import associate, iou, min_hits_for, select_tracks
from support.video import corrupt_video, face_frames, plain_frames, write_video
from tribunal_sdk.errors import MediaTooLarge, UndecodableMedia
from tribunal_sdk.video import VideoLimits, VideoProbe, iter_sampled_frames, probe_video, sample_indices

# ---- sampling and streaming ------------------------------------------------------------------------


def test_sample_indices_spread_evenly_and_never_repeat():
    indices = sample_indices(300, 30)
    assert len(indices) == 30 and indices == sorted(set(indices))
    assert indices[0] == 5 and indices[-1] == 295  # middle of the first and last 10-frame segments
    assert set(np.diff(indices)) == {10}
    assert sample_indices(7, 30) == list(range(7))  # short videos: every frame
    assert sample_indices(1, 30) == [0]
    assert sample_indices(0, 30) == [] and sample_indices(10, 0) == []
    odd = sample_indices(31, 30)
    assert len(odd) == 30 and len(set(odd)) == 30


def numbered_video(tmp_path, n: int = 40):
    """Frame i is a flat grey of value 5 * i, so a decoded frame says which frame it is."""
    frames = [np.full((48, 64, 3), 5 * i, np.uint8) for i in range(n)]
    return write_video(tmp_path / "numbered.avi", frames, fps=10)


@pytest.mark.parametrize("seek_gap", [10_000, 1])  # read through every frame / seek to each one
def test_streamed_frames_are_the_sampled_ones_one_at_a_time(tmp_path, seek_gap):
    path = numbered_video(tmp_path)
    probe = probe_video(path)
    assert (probe.frame_count, probe.fps, probe.width, probe.height) == (40, 10.0, 64, 48)
    stream = iter_sampled_frames(path, 8, probe, VideoLimits(), seek_gap=seek_gap)
    assert inspect.isgenerator(stream)  # frames arrive one at a time, nothing is collected
    got = [(index, float(frame.mean())) for index, frame in stream]
    assert [i for i, _ in got] == sample_indices(40, 8)
    for index, mean in got:
        assert abs(mean - 5 * index) < 3, (index, mean)


def test_a_container_that_overstates_its_length_just_ends_early(tmp_path):
    path = numbered_video(tmp_path, n=10)
    liar = VideoProbe(frame_count=100, fps=10.0, width=64, height=48)
    got = [i for i, _ in iter_sampled_frames(path, 30, liar, VideoLimits())]
    assert got and all(i < 10 for i in got)


def test_probe_refuses_what_it_cannot_open(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(corrupt_video())
    with pytest.raises(UndecodableMedia) as err:
        probe_video(path)
    assert err.value.status_code == 400 and err.value.code == "video_unreadable"


@pytest.mark.parametrize(
    "probe,code",
    [
        (VideoProbe(frame_count=10, fps=10.0, width=5000, height=5000), "video_resolution_too_large"),
        (VideoProbe(frame_count=700 * 30, fps=30.0, width=640, height=360), "video_too_long"),
        (VideoProbe(frame_count=200_000, fps=1000.0, width=64, height=48), "video_too_many_frames"),
    ],
)
def test_caps_give_413_with_a_clear_code(probe, code):
    with pytest.raises(MediaTooLarge) as err:
        VideoLimits().check(probe)
    assert err.value.status_code == 413 and err.value.code == code
    VideoLimits(max_duration_s=1e6, max_frame_pixels=10**9, max_frames=10**7).check(probe)


# ---- faces -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def haar() -> HaarFaceDetector:
    return HaarFaceDetector()


def test_haar_finds_the_pasted_real_face_and_nothing_in_a_plain_scene(haar):
    frame = face_frames(1)[0]
    boxes = haar.detect(frame)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    # The astronaut's face sits inside the pasted 190x210 patch at (40, 30).
    assert x >= 40 and x + w <= 230 and y >= 30 and y + h <= 240 and w >= 60
    assert haar.detect(plain_frames(1)[0]) == []


def test_haar_boxes_come_back_in_full_resolution_pixels(haar):
    frame = face_frames(1)[0]
    big = cv2.resize(frame, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 1440x1120 > detect_side
    (bx, by, bw, bh), (x, y, w, h) = haar.detect(big)[0], haar.detect(frame)[0]
    assert abs(bx / 4 - x) < 8 and abs(bw / 4 - w) < 8 and abs(by / 4 - y) < 8 and abs(bh / 4 - h) < 8


# ---- tracks ------------------------------------------------------------------------------------------


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_two_people_become_two_tracks_and_a_flicker_is_dropped():
    person_a = [((10 + 3 * t, 10, 40, 40), 100 + t) for t in range(10)]
    person_b = [((200 - 2 * t, 50, 60, 60), 200 + t) for t in range(10)]
    per_frame = [[person_b[t], person_a[t]] for t in range(10)]
    per_frame[4].append(((120, 150, 30, 30), 999))  # a one-frame false positive
    tracks = associate(per_frame)
    assert len(tracks) == 3
    chosen = select_tracks(tracks, max_tracks=3, min_hits=min_hits_for(10))
    assert len(chosen) == 2
    assert chosen[0].keys == [200 + t for t in range(10)]  # same hits: the larger face first
    assert chosen[1].keys == [100 + t for t in range(10)]
    assert 999 not in chosen[0].keys + chosen[1].keys


def test_a_face_that_moves_further_than_its_size_between_samples_keeps_its_track():
    # Sampled frames can be a second apart: no overlap, but the centre moved less than one face size.
    per_frame = [[((100 + 35 * t, 100, 40, 40), t)] for t in range(4)]
    assert [t.keys for t in associate(per_frame)] == [[0, 1, 2, 3]]
    # A box of a very different size far away is someone else.
    per_frame = [[((100, 100, 40, 40), 0)], [((130, 100, 120, 120), 1)]]
    assert len(associate(per_frame)) == 2


def test_select_tracks_keeps_at_most_max_tracks_most_persistent_first():
    per_frame = [
        [((x, 0, 20, 20), 10 * x + t) for x in (0, 100, 200, 300) if t < (x // 100) + 2] for t in range(6)
    ]
    chosen = select_tracks(associate(per_frame), max_tracks=3, min_hits=1)
    assert [t.hits for t in chosen] == [5, 4, 3]
    assert min_hits_for(30) == 6 and min_hits_for(1) == 1


# ---- crops and model input ---------------------------------------------------------------------------


def test_square_box_adds_a_third_each_side_and_clips_to_the_frame():
    assert square_box((100, 100, 30, 30), (480, 640, 3)) == (90, 90, 50, 50)
    assert square_box((100, 100, 30, 60), (480, 640, 3)) == (65, 80, 100, 100)  # square on the longer side
    x, y, w, h = square_box((0, 0, 30, 30), (480, 640, 3))
    assert (x, y) == (0, 0) and (w, h) == (40, 40)  # clipped at the corner, no wrap-around


def test_isotropic_resize_and_centred_black_padding_to_224():
    wide = np.full((50, 100, 3), 200, np.uint8)
    resized = isotropic_resize(wide)
    assert resized.shape == (112, 224, 3)  # longer side 224, aspect kept
    assert isotropic_resize(np.zeros((448, 224, 3), np.uint8)).shape == (224, 112, 3)  # down-scaling too
    padded = pad_to_square(resized)
    assert padded.shape == (224, 224, 3)
    assert (padded[:56] == 0).all() and (padded[-56:] == 0).all() and (padded[56:168] == 200).all()
    with pytest.raises(ValueError):
        pad_to_square(np.zeros((300, 10, 3), np.uint8))


def test_model_input_is_raw_bgr_0_255_floats_with_no_normalisation():
    image = np.zeros((60, 60, 3), np.uint8)
    image[..., 0] = 255  # pure blue in BGR
    image[..., 2] = 7
    tensor = to_tensor([to_input(image)])
    assert tensor.shape == (1, 3, 224, 224) and tensor.dtype.is_floating_point
    assert tensor[0, 0, 112, 112] == 255.0  # channel 0 is blue, unscaled
    assert tensor[0, 1, 112, 112] == 0.0 and tensor[0, 2, 112, 112] == 7.0
    assert tensor.max() == 255.0


def test_face_input_crops_the_face_square_with_margin(haar):
    frame = face_frames(1)[0]
    box = haar.detect(frame)[0]
    face = face_input(frame, box)
    assert face.shape == (224, 224, 3) and face.dtype == np.uint8
    # The crop is the face region (skin tones in the middle), not the backdrop.
    centre = face[80:144, 80:144].astype(float).mean(axis=(0, 1))
    assert centre[2] > centre[0]  # red above blue: skin


# ---- aggregation ---------------------------------------------------------------------------------------


def test_track_score_is_the_mean_of_its_faces():
    assert track_score([0.2, 0.4, 0.9]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        track_score([])


def test_video_score_is_the_first_track_above_055_else_the_mean():
    assert TRACK_FAKE_RULE == 0.55
    assert video_score([0.3, 0.6, 0.9]) == 0.6  # the first above the rule, not the largest
    assert video_score([0.9, 0.6]) == 0.9
    assert video_score([0.2, 0.4]) == pytest.approx(0.3)  # none above: mean
    assert video_score([0.55, 0.1]) == pytest.approx(0.325)  # exactly 0.55 is not above
    assert video_score([0.7]) == 0.7
    with pytest.raises(ValueError):
        video_score([])
