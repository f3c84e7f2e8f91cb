"""Cross-Efficient-ViT video deepfake detector as a Tribunal service.

Per video: probe the container and enforce the caps, sample up to 30 frames evenly (streamed), find
faces with OpenCV's Haar cascade, group them into up to 3 tracks, crop each face square with a margin,
resize isotropically and pad to 224, feed raw BGR 0-255 to the model, sigmoid per face, mean per track,
and take the first track above 0.55 (else the mean of the tracks) as the video's score. In the default
"faces" mode a video with no face abstains (``no_face``): the model has nothing it was trained on to
judge, and a 0.5 would be read as evidence. "frames" mode scores whole frames instead.

Runs the published ``cross_efficient_vit.pth`` when configured (options.py), else the smaller default
trained here (weights/MODEL_CARD.md says what it can be trusted for). In faces mode the default weights'
per-face logits go through the corpus-faces calibration beside them (calibrate.py); where that
calibration found the weights unable to separate real from AI faces, every faces-mode probability is
held inside the uncertainty band around 0.5 and ``details.reliable`` is false, with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import expit

from detectors.video_vit.aggregate import (
    PUBLISHED_DECISION_THRESHOLD,
    TRACK_FAKE_RULE,
    track_score,
    video_score,
)
from detectors.video_vit.crops import INPUT_SIZE, to_tensor
from detectors.video_vit.faces import FaceDetectorUnavailable, HaarFaceDetector
from detectors.video_vit.options import VideoVitOptions
from detectors.video_vit.pipeline import Collected, collect_faces, collect_frames
from detectors.video_vit.weights import (
    FacesCalibration,
    LoadedModel,
    faces_calibration_file,
    load_default,
    load_published,
)
from tribunal_sdk import DetectorSpec, Prediction, VideoDetector, VideoInput, WeightsUnavailable
from tribunal_sdk.detector import verify_sha256
from tribunal_sdk.errors import UndecodableMedia
from tribunal_sdk.media import file_sha256
from tribunal_sdk.video import probe_video

RULE_TEXT = (
    f"per-face sigmoid, mean per track; video = first track above {TRACK_FAKE_RULE}, else mean of tracks"
)


class VideoVitDetector(VideoDetector):
    """Face-track (or whole-frame) Cross-Efficient-ViT scoring of a video file."""

    def __init__(
        self,
        spec: DetectorSpec | None = None,
        device: str | None = None,
        options: VideoVitOptions | None = None,
    ):
        super().__init__(spec, device)
        self.options = options or VideoVitOptions()
        self.loaded: LoadedModel | None = None
        self.faces: HaarFaceDetector | None = None
        # The default weights' faces-mode calibration; None for the published model (its own sigmoid).
        self.faces_calibration: FacesCalibration | None = None
        self._weights_info: dict[str, Any] = {}

    def load(self) -> None:
        """Load the published checkpoint if configured, else the pinned default; and the face cascade."""
        torch.set_num_threads(self.options.threads)
        try:
            self.faces = HaarFaceDetector(detect_side=self.options.face_detect_side)
        except FaceDetectorUnavailable as exc:
            raise WeightsUnavailable(str(exc)) from exc
        published = self.options.published_weights
        if published is not None:
            digest = verify_sha256(published, self.options.published_sha256)
            loaded = load_published(published)
            self._weights_info = {"file": str(published), "sha256": digest, "origin": "published"}
        else:
            path = self.verified_weights(self.options.weights_file)
            loaded = load_default(path)
            pinned = next(w for w in self.spec.weights if w.file == path.name)
            self._weights_info = {"file": path.name, "sha256": pinned.sha256, "origin": pinned.origin}
            self.faces_calibration = self._load_faces_calibration(path, loaded)
        loaded.model.to(self.device).eval()
        self.loaded = loaded

    def _load_faces_calibration(self, weights: Path, loaded: LoadedModel) -> FacesCalibration:
        """The pinned corpus-faces calibration of ``weights``; without a matching one, faces mode is
        marked unreliable and held inside the uncertainty band (never the 0.9s of an unmeasured model)."""
        digest = file_sha256(weights)
        name = faces_calibration_file(weights.name)
        if not any(w.file == name for w in self.spec.weights):
            return FacesCalibration.unmeasured(
                loaded.calibration, digest, "these weights were never calibrated on a face corpus"
            )
        calibration = FacesCalibration.load(self.verified_weights(name))
        if calibration.weights_sha256 != digest:
            return FacesCalibration.unmeasured(
                loaded.calibration, digest, f"{name} was fitted for other weights than {weights.name}"
            )
        return calibration

    def runtime_info(self) -> dict[str, Any]:
        assert self.loaded is not None
        cfg = self.loaded.model.cfg
        opts = self.options
        return {
            "backbone": f"{cfg.name}: two EfficientNet-{cfg.backbone.upper()} branches, multi-scale "
            f"cross-attention encoder x{cfg.depth}",
            "model_config": cfg.model_dump(),
            "weights_in_use": self._weights_info,
            "training": self.loaded.training,
            "mode": opts.mode,
            "frames_per_video": opts.frames,
            "max_tracks": opts.max_tracks,
            "face_detector": "OpenCV Haar cascade (frontal faces)",
            "input": f"{INPUT_SIZE}x{INPUT_SIZE} BGR 0-255, square face crop, isotropic resize + zero pad",
            "aggregation": RULE_TEXT,
            "faces_calibration": (
                self.faces_calibration.to_json_dict() if self.faces_calibration is not None else None
            ),
            "caps": {
                "max_duration_s": opts.max_duration_s,
                "max_frame_pixels": opts.max_frame_pixels,
                "max_frames": opts.max_frames,
            },
        }

    def predict_batch(self, inputs: list[VideoInput]) -> list[Prediction]:
        # Videos are heavy; detector.yaml sets max_batch_size 1, so a bad file fails only its own request.
        return [self.predict_video(item) for item in inputs]

    def predict_video(self, item: VideoInput) -> Prediction:
        """Score one spooled video file (typed 4xx errors for files over the caps or undecodable)."""
        assert self.loaded is not None and self.faces is not None
        opts = self.options
        limits = opts.limits()
        probe = probe_video(item.path)
        limits.check(probe)
        if opts.mode == "faces":
            collected = collect_faces(
                item.path,
                probe,
                limits,
                self.faces,
                n_frames=opts.frames,
                max_tracks=opts.max_tracks,
                min_track_fraction=opts.min_track_fraction,
            )
        else:
            collected = collect_frames(item.path, probe, limits, n_frames=opts.frames)
        if collected.frames_sampled == 0:
            raise UndecodableMedia("the video holds no decodable frame", code="no_frames")
        details = self._details(collected, probe.as_details())
        if not collected.groups:
            why = (
                f"{collected.faces_found} face detection(s), but none recurred in "
                f"{opts.min_track_fraction:.0%} of the sampled frames (likely false positives)"
                if collected.faces_found
                else "no face was found in the sampled frames"
            )
            return Prediction.abstain(
                "no_face", warnings=[f"{why}; the face model has nothing to judge"], **details
            )
        group_scores = []
        for group_index, group in enumerate(collected.groups):
            probs = self._face_probs(group.inputs)
            score = track_score(probs)
            group_scores.append(score)
            details["tracks"][group_index].update(
                {"score": round(score, 4), "face_scores": [round(p, 4) for p in probs]}
            )
        score = video_score(group_scores)
        warnings = []
        calibration = self._faces_calibration()
        if calibration is not None:
            details["calibration"] = (
                f"Platt on {calibration.fitted_on}"
                if calibration.fitted_on
                else "training split only (never measured on a face corpus)"
            )
            details["reliable"] = calibration.reliable
            if not calibration.reliable:
                details["reliable_reason"] = calibration.reason
                warnings.append(f"not evidence either way: {calibration.reason}")
        if opts.mode == "frames" and opts.published_weights is not None:
            warnings.append(
                "the published model was trained on face crops only; whole-frame scores are outside its training"
            )
        if collected.frames_sampled < min(opts.frames, 3):
            warnings.append(f"only {collected.frames_sampled} frame(s) could be sampled; weak evidence")
        return Prediction(prob_fake=float(np.clip(score, 0.0, 1.0)), details=details, warnings=warnings)

    def _faces_calibration(self) -> FacesCalibration | None:
        """The corpus-faces calibration when it applies: faces mode on the default weights."""
        return self.faces_calibration if self.options.mode == "faces" else None

    def _face_probs(self, images: list[np.ndarray]) -> list[float]:
        assert self.loaded is not None
        calibration = self.loaded.calibration
        logits: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(images), self.options.batch_size):
                batch = to_tensor(images[start : start + self.options.batch_size]).to(self.device)
                logits += self.loaded.model(batch)[:, 0].float().tolist()
        faces = self._faces_calibration()
        if faces is not None:
            return faces.apply(np.array(logits)).tolist()
        return expit(calibration.scale * np.array(logits) + calibration.bias).tolist()

    def _details(self, collected: Collected, probe: dict[str, Any]) -> dict[str, Any]:
        mode = self.options.mode
        tracks = [
            {
                "track": i,
                "faces": len(g.inputs),
                "frames": g.frame_indices,
                **({"boxes": [list(b) for b in g.boxes]} if mode == "faces" else {}),
            }
            for i, g in enumerate(collected.groups)
        ]
        return {
            "mode": mode,
            "frames_sampled": collected.frames_sampled,
            "frame_indices": collected.frame_indices,
            "faces_found": collected.faces_found,
            "faces_used": collected.inputs_used if mode == "faces" else 0,
            "inputs_scored": collected.inputs_used,
            "tracks_found": collected.tracks_found,
            "tracks": tracks,
            "aggregation": RULE_TEXT if mode == "faces" else "per-frame sigmoid, mean over frames",
            "published_decision_threshold": PUBLISHED_DECISION_THRESHOLD,
            "video": probe,
        }
