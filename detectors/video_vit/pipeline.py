"""One video in, model inputs out: sampled frames -> faces -> tracks -> 224x224 crops (or whole frames).

Nothing here holds more than one decoded frame: each sampled frame is searched for faces, its face
crops (224x224 uint8, ~150 kB each) are kept, and the frame itself is dropped before the next decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detectors.video_vit.crops import Box, face_input, to_input
from detectors.video_vit.faces import HaarFaceDetector
from detectors.video_vit.tracks import associate, min_hits_for, select_tracks
from tribunal_sdk.video import VideoLimits, VideoProbe, iter_sampled_frames


@dataclass
class InputGroup:
    """Model inputs that are scored and averaged together: one face track, or all sampled frames."""

    frame_indices: list[int]
    inputs: list[np.ndarray]  # 224x224x3 BGR uint8
    boxes: list[Box] = field(default_factory=list)  # face boxes in frame pixels (faces mode)


@dataclass
class Collected:
    """What the pipeline found in one video, before any scoring."""

    frame_indices: list[int]  # the sampled frames that decoded
    faces_found: int  # face detections over all sampled frames, before tracking
    tracks_found: int  # tracks before selection
    groups: list[InputGroup]

    @property
    def frames_sampled(self) -> int:
        return len(self.frame_indices)

    @property
    def inputs_used(self) -> int:
        return sum(len(g.inputs) for g in self.groups)


def collect_faces(
    path: Path,
    probe: VideoProbe,
    limits: VideoLimits,
    detector: HaarFaceDetector,
    n_frames: int = 30,
    max_tracks: int = 3,
    min_track_fraction: float = 0.2,
) -> Collected:
    """Sample ``n_frames`` frames, find faces, keep the ``max_tracks`` most persistent face tracks."""
    frame_indices: list[int] = []
    per_frame: list[list[tuple[Box, int]]] = []
    crops: list[np.ndarray] = []
    for index, frame in iter_sampled_frames(path, n_frames, probe, limits):
        found = []
        for box in detector.detect(frame):
            crops.append(face_input(frame, box))
            found.append((box, len(crops) - 1))
        frame_indices.append(index)
        per_frame.append(found)
    tracks = associate(per_frame)
    chosen = select_tracks(tracks, max_tracks, min_hits_for(len(frame_indices), min_track_fraction))
    groups = [
        InputGroup(
            frame_indices=[frame_indices[p] for p in track.positions],
            inputs=[crops[k] for k in track.keys],
            boxes=list(track.boxes),
        )
        for track in chosen
    ]
    return Collected(
        frame_indices=frame_indices,
        faces_found=len(crops),
        tracks_found=len(tracks),
        groups=groups,
    )


def collect_frames(path: Path, probe: VideoProbe, limits: VideoLimits, n_frames: int = 30) -> Collected:
    """Sample ``n_frames`` whole frames (resized and padded like a face crop) as one group."""
    frame_indices: list[int] = []
    inputs: list[np.ndarray] = []
    for index, frame in iter_sampled_frames(path, n_frames, probe, limits):
        frame_indices.append(index)
        inputs.append(to_input(frame))
    groups = [InputGroup(frame_indices=list(frame_indices), inputs=inputs)] if inputs else []
    return Collected(frame_indices=frame_indices, faces_found=0, tracks_found=0, groups=groups)
