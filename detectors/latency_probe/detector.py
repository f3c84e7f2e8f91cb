"""A detector with a known, fixed cost: the yardstick for gateway latency and fault tests."""

from __future__ import annotations

import os
import time

import numpy as np

from tribunal_sdk import ImageDetector, ImageInput, Prediction, WeightsUnavailable


class LatencyProbeDetector(ImageDetector):
    """Sleeps ``TRIBUNAL_PROBE_LATENCY_MS`` per batch, then scores mean brightness in [0, 1].

    The sleep happens inside predict_batch, i.e. on the SDK's model worker, so a benchmark built on
    it measures the SDK and the gateway, not a model.
    """

    def load(self) -> None:
        # Lets tests play a detector whose weights are missing: alive, never ready.
        missing = os.environ.get("TRIBUNAL_PROBE_MISSING_WEIGHTS")
        if missing:
            raise WeightsUnavailable(f"{missing} not found (TRIBUNAL_PROBE_MISSING_WEIGHTS is set)")
        self.latency_s = float(os.environ.get("TRIBUNAL_PROBE_LATENCY_MS", "0")) / 1000

    def predict_batch(self, inputs: list[ImageInput]) -> list[Prediction]:
        if self.latency_s:
            time.sleep(self.latency_s)
        results = []
        for item in inputs:
            brightness = float(np.asarray(item.image.convert("L"), dtype=np.float32).mean() / 255.0)
            results.append(Prediction(prob_fake=brightness, details={"kind": "test_probe"}))
        return results

    def runtime_info(self) -> dict[str, float]:
        return {"probe_latency_ms": self.latency_s * 1000}
