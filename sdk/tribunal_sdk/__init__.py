"""Tribunal detector SDK.

A detector author subclasses ``ImageDetector`` or ``VideoDetector``, writes ``load()`` and
``predict_batch()``, describes the detector in ``detector.yaml`` and calls ``serve(MyDetector)``.
"""

from tribunal_sdk.app import create_app
from tribunal_sdk.detector import Detector, DetectorSpec, ImageDetector, VideoDetector
from tribunal_sdk.errors import TribunalError, WeightsUnavailable
from tribunal_sdk.media import ImageInput, VideoInput
from tribunal_sdk.result import Prediction, PredictResponse
from tribunal_sdk.serve import serve

__all__ = [
    "Detector",
    "DetectorSpec",
    "ImageDetector",
    "ImageInput",
    "PredictResponse",
    "Prediction",
    "TribunalError",
    "VideoDetector",
    "VideoInput",
    "WeightsUnavailable",
    "create_app",
    "serve",
]
