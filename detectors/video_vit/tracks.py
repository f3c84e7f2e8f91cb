"""Grouping face detections across sampled frames into tracks (one track ~ one person).

Sampled frames can be a second or more apart, so a face may move far between them: a detection joins
a track when it overlaps the track's latest box (IoU) or, failing that, when its centre lies within
``max_centre_shift`` face sizes of it and the two boxes have similar sizes. Matching is greedy, best
pairs first, one detection per track per frame. Tracks seen in too few frames are dropped (Haar's
false positives rarely recur), then the most persistent tracks are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from detectors.video_vit.crops import Box


@dataclass
class Track:
    """One face over time: the positions (in sampled-frame order) and boxes where it was found."""

    positions: list[int] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)  # caller's handle per detection (e.g. crop index)

    @property
    def last_box(self) -> Box:
        return self.boxes[-1]

    @property
    def hits(self) -> int:
        return len(self.boxes)

    @property
    def mean_area(self) -> float:
        return sum(w * h for _, _, w, h in self.boxes) / len(self.boxes)

    def add(self, position: int, box: Box, key: int) -> None:
        self.positions.append(position)
        self.boxes.append(box)
        self.keys.append(key)


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def centre_shift(a: Box, b: Box) -> float:
    """Distance between the box centres, in units of the boxes' mean side."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    distance = math.hypot((ax + aw / 2) - (bx + bw / 2), (ay + ah / 2) - (by + bh / 2))
    return distance / ((aw + ah + bw + bh) / 4)


def match_score(track_box: Box, box: Box, min_iou: float, max_centre_shift: float) -> float | None:
    """How well ``box`` continues a track ending in ``track_box`` (higher is better); None: no match."""
    overlap = iou(track_box, box)
    if overlap >= min_iou:
        return 1.0 + overlap  # any overlap match beats any distance match
    size_ratio = math.sqrt((box[2] * box[3]) / max(1, track_box[2] * track_box[3]))
    shift = centre_shift(track_box, box)
    if shift <= max_centre_shift and 0.5 <= size_ratio <= 2.0:
        return 1.0 - shift / (max_centre_shift + 1e-9)
    return None


def associate(
    detections: list[list[tuple[Box, int]]], min_iou: float = 0.3, max_centre_shift: float = 1.0
) -> list[Track]:
    """Build tracks from per-frame detections ``[(box, key), ...]`` given in sampled-frame order."""
    tracks: list[Track] = []
    for position, frame_detections in enumerate(detections):
        candidates = []
        for t_index, track in enumerate(tracks):
            for d_index, (box, _) in enumerate(frame_detections):
                score = match_score(track.last_box, box, min_iou, max_centre_shift)
                if score is not None:
                    candidates.append((score, t_index, d_index))
        candidates.sort(reverse=True)
        used_tracks: set[int] = set()
        used_detections: set[int] = set()
        for _, t_index, d_index in candidates:
            if t_index in used_tracks or d_index in used_detections:
                continue
            box, key = frame_detections[d_index]
            tracks[t_index].add(position, box, key)
            used_tracks.add(t_index)
            used_detections.add(d_index)
        for d_index, (box, key) in enumerate(frame_detections):
            if d_index not in used_detections:
                track = Track()
                track.add(position, box, key)
                tracks.append(track)
    return tracks


def min_hits_for(frames_sampled: int, fraction: float = 0.2) -> int:
    """A track must appear in this many sampled frames: ``fraction`` of them, at least one."""
    return max(1, math.ceil(frames_sampled * fraction))


def select_tracks(tracks: list[Track], max_tracks: int, min_hits: int) -> list[Track]:
    """The ``max_tracks`` most persistent tracks with at least ``min_hits`` detections.

    Order matters to the video rule (first track above 0.55 decides): most frames first, then larger
    faces, then the one seen earliest.
    """
    kept = [t for t in tracks if t.hits >= min_hits]
    kept.sort(key=lambda t: (-t.hits, -t.mean_area, t.positions[0]))
    return kept[:max_tracks]
