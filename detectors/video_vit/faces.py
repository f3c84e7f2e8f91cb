"""Face detection with OpenCV's Haar cascade, which ships inside opencv-python 4.x (no download).

Haar is fast and offline but misses faces turned more than ~30 degrees and finds a few "faces" in
texture; the tracker (tracks.py) drops detections that do not recur across the sampled frames.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detectors.video_vit.crops import Box
from tribunal_sdk.errors import WeightsUnavailable

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"


class FaceDetectorUnavailable(WeightsUnavailable, RuntimeError):
    """The cascade file is missing (opencv-python 5.x wheels no longer carry them)."""


def cascade_path(name: str = DEFAULT_CASCADE) -> Path:
    """The cascade inside the installed OpenCV, or Debian's opencv-data copy."""
    candidates = []
    data = getattr(cv2, "data", None)
    if data is not None:
        candidates.append(Path(data.haarcascades) / name)
    candidates.append(Path("/usr/share/opencv4/haarcascades") / name)
    for path in candidates:
        if path.is_file():
            return path
    raise FaceDetectorUnavailable(
        f"Haar cascade {name} not found in {', '.join(str(p.parent) for p in candidates)}; "
        "install opencv-python-headless 4.x (the 5.x wheels do not ship cascades) or Debian's opencv-data"
    )


class HaarFaceDetector:
    """Frontal faces in a BGR frame, largest first.

    The frame is searched at most ``detect_side`` pixels on its longer side (a 4K frame costs the same
    as a 640-px one); boxes come back in the frame's own pixels. Faces smaller than ``min_face_frac`` of
    the frame's shorter side are ignored: too small to judge, and where false positives live.
    """

    def __init__(
        self,
        cascade: Path | None = None,
        detect_side: int = 640,
        min_face_frac: float = 0.08,
        min_neighbors: int = 5,
        max_faces: int = 5,
    ):
        path = cascade or cascade_path()
        self.classifier = cv2.CascadeClassifier(str(path))
        if self.classifier.empty():
            raise FaceDetectorUnavailable(f"OpenCV could not load the cascade {path}")
        self.detect_side = detect_side
        self.min_face_frac = min_face_frac
        self.min_neighbors = min_neighbors
        self.max_faces = max_faces

    def detect(self, frame: np.ndarray) -> list[Box]:
        h, w = frame.shape[:2]
        scale = min(1.0, self.detect_side / max(h, w))
        small = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        min_side = max(20, round(min(grey.shape[:2]) * self.min_face_frac))
        found = self.classifier.detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=(min_side, min_side)
        )
        boxes = [
            (round(x / scale), round(y / scale), round(bw / scale), round(bh / scale))
            for x, y, bw, bh in found
        ]
        boxes.sort(key=lambda b: b[2] * b[3], reverse=True)
        return boxes[: self.max_faces]
