"""The FFT spectral detector service: real vs AI from frequency statistics, with family hints.

``prob_fake`` comes from the binary classifier, Platt-scaled on the validation split. The family
hint (which generator or simulated up-sampling family the spectrum resembles most, among AI
classes) goes into ``details`` rather than ``class_probs``: it is conditional on the image being
AI-made and too weak to be fused as attribution (see weights/MODEL_CARD.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from detectors.fft_spectral.explain import explain_png
from detectors.fft_spectral.model import BundleError, SpectralModel, load_bundle
from detectors.fft_spectral.spectral import ANALYSIS_SIZE, analysis_crop, luma, spectral_features
from tribunal_sdk import ImageDetector, ImageInput, Prediction, WeightsUnavailable

WEIGHTS_FILE = "fft_spectral.skops"
_HOW_TO_TRAIN = "run `make benchmark && make train-detector NAME=fft_spectral`"


class FftSpectralDetector(ImageDetector):
    """Durall azimuthal spectrum + Frank log-DCT bands + up-sampling periodicity, scikit-learn classifier."""

    model: SpectralModel

    def load(self) -> None:
        path = self.weights_path(WEIGHTS_FILE)
        if not path.is_file():
            raise WeightsUnavailable(f"{path} is missing; {_HOW_TO_TRAIN}")
        self.verified_weights(WEIGHTS_FILE)
        try:
            self.model = load_bundle(path)
        except BundleError as exc:
            raise WeightsUnavailable(f"{exc}; {_HOW_TO_TRAIN}") from exc
        # One OpenMP thread for the boosted trees, set once on the model's worker thread (where every
        # predict_batch runs): a batch of a few rows gains nothing from more, and their OpenMP pool spun
        # for tens of seconds per call when the cores were busy with other work. An operator's
        # TRIBUNAL_CPU_THREADS, applied by the SDK after load(), takes precedence.
        threadpool_limits(limits=1, user_api="openmp")

    def predict_batch(self, inputs: list[ImageInput]) -> list[Prediction]:
        # FFT features are computed per image with NumPy (~10 ms each); the classifier runs once.
        features = np.stack([spectral_features(item.image) for item in inputs])
        prob_fake = self.model.prob_fake(features)
        families = self.model.family_probs(features)
        results = []
        for i, item in enumerate(inputs):
            details: dict[str, Any] = {"analysed_crop_px": min(ANALYSIS_SIZE, max(32, min(item.image.size)))}
            if families is not None:
                hint = {c: round(float(p), 4) for c, p in zip(self.model.families, families[i], strict=True)}
                details["family_hint"] = max(hint, key=hint.__getitem__)
                details["family_probs_if_ai"] = hint
            warnings = []
            if min(item.image.size) < 64:
                warnings.append("image smaller than 64 px: too few frequencies for a reliable spectrum")
            results.append(Prediction(prob_fake=float(prob_fake[i]), details=details, warnings=warnings))
        return results

    def explain(self, item: ImageInput, prediction: Prediction) -> bytes:
        """PNG of the analysed crop's log spectrum with the most deviating radial band highlighted."""
        gray = luma(analysis_crop(item.image))
        png, band = explain_png(gray, self.model.real_profile_mean, self.model.real_profile_std)
        prediction.details["deviating_band"] = {
            "from_nyquist": band.start,
            "to_nyquist": band.stop,
            "z": band.z,
        }
        return png

    def runtime_info(self) -> dict[str, Any]:
        return {
            "backbone": f"spectral features {list(self.model.groups)} + {self.model.kind} classifier",
            "families": self.model.families,
        }
