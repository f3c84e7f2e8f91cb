"""The attribution CNN detector service: which generator family (or ``real``) made an image.

Every upload is looked at through several square crops of the training crop size (512 px, or the
shorter side when smaller) spread over the image, the centre first (``TRIBUNAL_CROPS``, default 5);
each crop is resized to the model's input side (``input_size``, from its weights) exactly as in
training, all crops of all images in a batch share forward passes, and each image's crop logits are averaged before the temperature-scaled
softmax. ``prob_fake = 1 - P(real)``; ``class_probs`` covers every public class the weights know.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.special import log_softmax

from detectors.attribution_cnn.explain import crop_heatmap, grad_cam
from detectors.attribution_cnn.model import AttributionNet, WeightsFormatError, load_weights
from detectors.attribution_cnn.preprocess import view_tensor
from detectors.common.efficientnet_lite import BackboneUnavailable
from detectors.common.views import TRAINING_CROP, Box, crop_boxes, crops_setting
from tribunal_sdk import ImageDetector, ImageInput, Prediction, WeightsUnavailable

WEIGHTS_FILE = "attribution_cnn.safetensors"
_HOW_TO_TRAIN = (
    "run `make benchmark CORPUS=../shared/corpus/manifest.csv && make train-detector NAME=attribution_cnn`"
)
# Crops per forward pass: bounds memory when TRIBUNAL_CROPS is large and a batch is full.
_MAX_CROPS_PER_PASS = 64
# The smallest stored side in the training corpus (benchmark/corpus.py MIN_SIDE): smaller uploads are
# scaled up more than anything the model learned from.
_SMALL_SIDE = 256


class AttributionCnnDetector(ImageDetector):
    """EfficientNet-Lite attribution model (frozen multi-stage features + linear head by default)."""

    net: AttributionNet
    crops: int

    def load(self) -> None:
        self.crops = crops_setting()
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

    def boxes(self, item: ImageInput) -> list[Box]:
        """The crops analysed for one upload, the centre one first."""
        return crop_boxes(item.image.width, item.image.height, self.crops)

    def _crop_batch(self, item: ImageInput, boxes: list[Box]) -> torch.Tensor:
        size = self.net.config.input_size
        return torch.stack([view_tensor(item.image, box, size) for box in boxes])

    @torch.inference_mode()
    def predict_batch(self, inputs: list[ImageInput]) -> list[Prediction]:
        boxes = [self.boxes(item) for item in inputs]
        crops = torch.cat([self._crop_batch(item, b) for item, b in zip(inputs, boxes, strict=True)])
        logits = torch.cat(
            [
                self.net(chunk.to(self.device)).double().cpu()
                for chunk in torch.split(crops, _MAX_CROPS_PER_PASS)
            ]
        ).numpy()
        out, start = [], 0
        for item, b in zip(inputs, boxes, strict=True):
            mean_logits = logits[start : start + len(b)].mean(axis=0)
            start += len(b)
            out.append(self._prediction(mean_logits, item, b))
        return out

    def _prediction(self, logits: np.ndarray, item: ImageInput, boxes: list[Box]) -> Prediction:
        p = np.exp(log_softmax(logits / float(self.net.temperature)))
        class_probs = {c: float(v) for c, v in zip(self.net.classes, p, strict=True)}
        top = max(class_probs, key=class_probs.__getitem__)
        generators = {c: v for c, v in class_probs.items() if c != "real"}
        warnings = []
        if min(item.image.size) < _SMALL_SIDE:
            warnings.append(
                f"image smaller than {_SMALL_SIDE} px (the smallest training image): scaled up, less reliable"
            )
        return Prediction(
            prob_fake=float(np.clip(1.0 - class_probs["real"], 0.0, 1.0)),
            class_probs=class_probs,
            details={
                "predicted_class": top,
                "predicted_source": max(generators, key=generators.__getitem__) if generators else None,
                "crops": len(boxes),
                "analysed_crop_px": boxes[0].side,
            },
            warnings=warnings,
        )

    def explain(self, item: ImageInput, prediction: Prediction) -> np.ndarray:
        """Grad-CAM of the AI evidence on every analysed crop, laid over the whole image.

        Each crop's map is weighted by how AI-like that crop looks (its P(fake) relative to the most
        AI-like crop), so a crop judged real does not light up as much as the one that drove the answer.
        """
        boxes = self.boxes(item)
        x = self._crop_batch(item, boxes).to(self.device)
        maps, logits = grad_cam(self.net, x, self.real_index)
        p_real = np.exp(log_softmax(logits / float(self.net.temperature), axis=1))[:, self.real_index]
        p_fake = 1.0 - p_real
        weights = p_fake / p_fake.max() if p_fake.max() > 0 else np.ones_like(p_fake)
        return crop_heatmap(list(maps), boxes, item.image.size, list(weights))

    def runtime_info(self) -> dict[str, Any]:
        cfg = self.net.config
        streams = "RGB + NPR residual" if cfg.npr else "RGB"
        return {
            "backbone": f"tf_efficientnet_lite{cfg.variant[-1]} ({cfg.mode}, {streams}, stages {list(cfg.stages)})",
            "head": cfg.head,
            "temperature": float(self.net.temperature),
            "weights_classes": self.net.classes,
            "input_size": cfg.input_size,
            "view": {
                "crops": self.crops,
                "crop_size": TRAINING_CROP,
                "input_size": cfg.input_size,
                "resize": "bilinear",
                "fusion": "mean of the crops' logits",
            },
        }
