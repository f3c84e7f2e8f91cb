"""The attribution CNN detector service: which generator (or ``real``) made an image.

``prob_fake = 1 - P(real)``; ``class_probs`` covers every class the weights were trained on, with
temperature scaling (fitted on the validation split) already applied.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from detectors.attribution_cnn.explain import grad_cam
from detectors.attribution_cnn.model import AttributionNet, WeightsFormatError, load_weights
from detectors.attribution_cnn.preprocess import INPUT_SIZE, prepare_image, to_tensor
from detectors.common.efficientnet_lite import BackboneUnavailable
from tribunal_sdk import ImageDetector, ImageInput, Prediction, WeightsUnavailable

WEIGHTS_FILE = "attribution_cnn.safetensors"
_HOW_TO_TRAIN = "run `make benchmark && make train-detector NAME=attribution_cnn`"
# The explanation is returned at most this large; the SDK scales it over the image anyway.
_HEATMAP_MAX_SIDE = 512


class AttributionCnnDetector(ImageDetector):
    """EfficientNet-Lite attribution model (frozen multi-stage features + trained head by default)."""

    net: AttributionNet

    def load(self) -> None:
        path = self.weights_path(WEIGHTS_FILE)
        if not path.is_file():
            raise WeightsUnavailable(f"{path} is missing; {_HOW_TO_TRAIN}")
        self.verified_weights(WEIGHTS_FILE)
        try:
            net = load_weights(path, map_location=self.device)
        except (WeightsFormatError, BackboneUnavailable) as exc:
            raise WeightsUnavailable(f"{exc}; {_HOW_TO_TRAIN}") from exc
        if net.classes != list(self.spec.classes):
            raise WeightsUnavailable(
                f"{WEIGHTS_FILE} predicts {net.classes} but detector.yaml lists {self.spec.classes}; "
                "retrain, or restore the detector.yaml written with these weights"
            )
        for p in net.parameters():
            p.requires_grad_(False)
        self.net = net
        self.real_index = net.classes.index("real")

    def _tensors(self, inputs: list[ImageInput]) -> list[torch.Tensor]:
        return [to_tensor(prepare_image(item.image, INPUT_SIZE)) for item in inputs]

    @torch.inference_mode()
    def predict_batch(self, inputs: list[ImageInput]) -> list[Prediction]:
        tensors = self._tensors(inputs)
        probs: list[np.ndarray | None] = [None] * len(tensors)
        # Crops of equal size share one forward pass; an odd-sized upload runs on its own.
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, t in enumerate(tensors):
            by_shape.setdefault(tuple(t.shape), []).append(i)
        for indices in by_shape.values():
            batch = torch.stack([tensors[i] for i in indices]).to(self.device)
            out = self.net.probs(batch).float().cpu().numpy()
            for row, i in zip(out, indices, strict=True):
                probs[i] = row
        return [self._prediction(p, item) for p, item in zip(probs, inputs, strict=True)]

    def _prediction(self, p: np.ndarray | None, item: ImageInput) -> Prediction:
        assert p is not None
        p = p.astype(np.float64)
        p /= p.sum()
        class_probs = {c: float(v) for c, v in zip(self.net.classes, p, strict=True)}
        top = max(class_probs, key=class_probs.__getitem__)
        generators = {c: v for c, v in class_probs.items() if c != "real"}
        warnings = []
        if min(item.image.size) < 64:
            warnings.append("image smaller than 64 px: scaled up, which hides up-sampling traces")
        return Prediction(
            prob_fake=float(np.clip(1.0 - class_probs["real"], 0.0, 1.0)),
            class_probs=class_probs,
            details={
                "predicted_class": top,
                "predicted_source": max(generators, key=generators.__getitem__) if generators else None,
                "analysed_crop_px": min(INPUT_SIZE, max(64, min(item.image.size))),
            },
            warnings=warnings,
        )

    def explain(self, item: ImageInput, prediction: Prediction) -> np.ndarray:
        """Grad-CAM of the AI evidence over the analysed centre crop, placed in the whole frame."""
        crop = prepare_image(item.image, INPUT_SIZE)
        x = to_tensor(crop).unsqueeze(0).to(self.device)
        heat = grad_cam(self.net, x, self.real_index)
        return place_in_frame(heat, item.image.size, crop.size)

    def runtime_info(self) -> dict[str, Any]:
        cfg = self.net.config
        streams = "RGB + NPR residual" if cfg.npr else "RGB"
        return {
            "backbone": f"tf_efficientnet_lite{cfg.variant[-1]} ({cfg.mode}, {streams}, stages {list(cfg.stages)})",
            "head": cfg.head,
            "temperature": float(self.net.temperature),
            "weights_classes": self.net.classes,
        }


def place_in_frame(heat: np.ndarray, image_size: tuple[int, int], crop_size: tuple[int, int]) -> np.ndarray:
    """Put a centre-crop heat map into an image-shaped map (zero outside the crop, max 512 px a side)."""
    width, height = image_size
    scale = min(1.0, _HEATMAP_MAX_SIDE / max(width, height))
    frame_w, frame_h = max(1, round(width * scale)), max(1, round(height * scale))
    frame = np.zeros((frame_h, frame_w), dtype=np.float32)
    crop_w, crop_h = max(1, round(crop_size[0] * scale)), max(1, round(crop_size[1] * scale))
    crop_w, crop_h = min(crop_w, frame_w), min(crop_h, frame_h)
    resized = Image.fromarray(heat.astype(np.float32)).resize((crop_w, crop_h), Image.BILINEAR)
    left, top = (frame_w - crop_w) // 2, (frame_h - crop_h) // 2
    frame[top : top + crop_h, left : left + crop_w] = np.asarray(resized)
    return np.clip(frame, 0.0, 1.0)
