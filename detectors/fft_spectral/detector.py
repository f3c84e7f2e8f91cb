"""The FFT spectral detector service: real vs AI from frequency statistics, with family hints.

An upload is analysed as up to ``TRIBUNAL_CROPS`` (default 5) square crops of the side the model was
trained on (``crop_boxes``: the centre first, then crops spread over the image), each at native
resolution: resizing would erase the up-sampling traces the features look for. The classifier's
log-odds are averaged over the crops and then Platt-scaled (fitted on leave-source-out out-of-fold
scores) into ``prob_fake``. The family hint (which AI family the spectrum resembles most, averaged
over the crops) goes into ``details`` rather than ``class_probs``: it is conditional on the image
being AI-made and too weak to be fused as attribution (see weights/MODEL_CARD.md).
"""

from __future__ import annotations

from typing import Any

from threadpoolctl import threadpool_limits

from detectors.common.views import crop_boxes, crops_of, crops_setting
from detectors.fft_spectral.explain import explain_png
from detectors.fft_spectral.model import BundleError, SpectralModel, load_bundle
from detectors.fft_spectral.spectral import analysis_crop, analysis_side, crop_features, luma
from tribunal_sdk import ImageDetector, ImageInput, Prediction, WeightsUnavailable

WEIGHTS_FILE = "fft_spectral.skops"
_HOW_TO_TRAIN = (
    "run `make benchmark CORPUS=../shared/corpus/manifest.csv && make train-detector NAME=fft_spectral`"
)


class FftSpectralDetector(ImageDetector):
    """Durall azimuthal spectrum + Frank log-DCT bands + up-sampling periodicity, scikit-learn classifier."""

    model: SpectralModel
    crops: int

    def load(self) -> None:
        self.crops = crops_setting()
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
        # FFT features are computed per crop with NumPy (~10 ms per 256 px crop); the classifier
        # runs once over every crop of the batch.
        side = self.model.crop_side
        crops = [crop_features(item.image, side, self.crops) for item in inputs]
        prob_fake = self.model.prob_fake_of_crops(crops)
        families = self.model.family_probs_of_crops(crops)
        results = []
        for i, item in enumerate(inputs):
            details: dict[str, Any] = {
                "crops": len(crops[i]),
                "analysed_crop_px": analysis_side(*item.image.size, side),
            }
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
        """PNG of the centre crop's log spectrum with the most deviating radial band highlighted.

        Only the centre crop is drawn, though the score averages several: one spectrum is what a
        reader can compare against the real-photo profile, and the centre crop is always analysed.
        """
        centre = crop_boxes(item.image.width, item.image.height, 1, side=self.model.crop_side)
        gray = luma(analysis_crop(crops_of(item.image, centre)[0], self.model.crop_side))
        png, band = explain_png(gray, self.model.real_profile_mean, self.model.real_profile_std)
        prediction.details["deviating_band"] = {
            "from_nyquist": band.start,
            "to_nyquist": band.stop,
            "z": band.z,
            "crop": "centre",
        }
        return png

    def runtime_info(self) -> dict[str, Any]:
        side = self.model.crop_side
        return {
            "backbone": f"spectral features {list(self.model.groups)} + {self.model.kind} classifier",
            "families": self.model.families,
            "input_size": side,
            "crops": self.crops,
            "view": (
                f"up to {self.crops} square crops of {side} native px spread over the image (centre first; "
                "TRIBUNAL_CROPS), never resized; the classifier's log-odds averaged over the crops, then "
                "Platt-scaled"
            ),
        }
