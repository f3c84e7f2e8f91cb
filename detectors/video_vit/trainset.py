"""Training and test samples for the default weights, made here from offline material.

Two kinds, both passed through a real video codec and the detector's own pipeline:

- face samples: clips over the few real photographs with a frontal face that install offline,
  half of them self-blended (sbi.py) before filming; faces found and cropped by the detector's own
  Haar + tracking + crop code. Label 1 = self-blended.
- frame samples: clips over the benchmark's 256x256 patches (data/benchmark, real photos vs AI and
  simulated-generator images); whole frames, resized and padded as in "frames" mode. Label 1 = AI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from detectors.video_vit.clips import ClipPlan, Focus, random_plan, temporary_clip
from detectors.video_vit.crops import Box
from detectors.video_vit.faces import HaarFaceDetector
from detectors.video_vit.pipeline import collect_faces, collect_frames
from detectors.video_vit.sbi import self_blend
from tribunal_sdk.video import VideoLimits

FACE_CLIP_SIZES = ((320, 240), (426, 240), (360, 360), (480, 270))
FRAME_CLIP_SIZES = ((224, 224), (256, 192), (256, 144))


@dataclass
class Sample:
    image: np.ndarray  # 224x224x3 BGR uint8, exactly what the detector would feed the model
    label: int  # 1: fake (self-blended face, or AI image)
    domain: str  # "face" or "frame"
    group: str  # who or what: the face photo's name, or the benchmark source
    clip: str  # the clip it came from (scores are averaged per clip, as per video)
    split: str


def _skimage_astronaut() -> np.ndarray | None:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def _grace_hopper() -> np.ndarray | None:
    import matplotlib

    return cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))


# The real photographs of a frontal human face among the offline sources that the Haar cascade finds
# (every source in DATA.md was searched: the other hits were texture, a painting, a dog; in opencv-doc's
# messi5.jpg the cascade boxes the shirt, not the face). Two people: see the model card.
FACE_STILLS: dict[str, Callable[[], np.ndarray | None]] = {
    "astronaut": _skimage_astronaut,
    "grace_hopper": _grace_hopper,
}


def offline_face_stills() -> dict[str, np.ndarray]:
    stills = {}
    for name, load in FACE_STILLS.items():
        try:
            image = load()
        except (ImportError, OSError):
            image = None
        if image is not None:
            stills[name] = image
    return stills


def largest_face(detector: HaarFaceDetector, image: np.ndarray) -> Box | None:
    boxes = detector.detect(image)
    return boxes[0] if boxes else None


def face_clip_samples(
    name: str,
    still: np.ndarray,
    split_for: Callable[[int], str],
    n_clips: int,
    frames_per_clip: int,
    detector: HaarFaceDetector,
    rng: np.random.Generator,
) -> list[Sample]:
    """Alternating real and self-blended clips of one face photo, cropped by the detector's pipeline."""
    box = largest_face(detector, still)
    if box is None:
        return []
    samples: list[Sample] = []
    limits = VideoLimits()
    for k in range(n_clips):
        label = k % 2
        flip = rng.random() < 0.5
        image = np.ascontiguousarray(still[:, ::-1]) if flip else still.copy()
        face = _mirror(box, still.shape[1]) if flip else box
        if label:
            image, _ = self_blend(image, face, rng)
        x, y, w, h = face
        side = max(w, h)
        focus = Focus(x + w / 2, y + h / 2, 2.2 * side, 4.5 * side)
        plan: ClipPlan = random_plan(rng, FACE_CLIP_SIZES)
        with temporary_clip(image, plan, rng, focus) as (path, probe):
            found = collect_faces(path, probe, limits, detector, n_frames=frames_per_clip, max_tracks=1)
        for group in found.groups:
            for crop in group.inputs:
                samples.append(Sample(crop, label, "face", name, f"{name}-{k}", split_for(k)))
    return samples


def _mirror(box: Box, width: int) -> Box:
    x, y, w, h = box
    return (width - x - w, y, w, h)


def frame_clip_samples(
    images: Sequence[tuple[Path, int, str, str]],
    frames_per_clip: int,
    rng: np.random.Generator,
    desc: str,
) -> list[Sample]:
    """One clip per (path, label, source, split) still; whole frames as the "frames" mode feeds them."""
    samples: list[Sample] = []
    limits = VideoLimits()
    for index, (path, label, source, split) in enumerate(tqdm(images, desc=desc, leave=False)):
        still = cv2.imread(str(path))
        if still is None:
            continue
        plan = random_plan(rng, FRAME_CLIP_SIZES)
        with temporary_clip(still, plan, rng) as (clip_path, probe):
            found = collect_frames(clip_path, probe, limits, n_frames=frames_per_clip)
        for group in found.groups:
            for frame in group.inputs:
                samples.append(Sample(frame, label, "frame", source, f"{desc}-{index}", split))
    return samples
