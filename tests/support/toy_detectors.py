"""Small detectors built on the SDK, for testing the SDK itself."""

from __future__ import annotations

import threading
import time

import numpy as np

from tribunal_sdk import DetectorSpec, ImageDetector, ImageInput, Prediction, WeightsUnavailable


def make_spec(name="toy", **kw) -> DetectorSpec:
    base = {
        "name": name,
        "version": "1.2.3",
        "media_types": ["image"],
        "batching": {"max_batch_size": 8, "max_delay_ms": 20},
    }
    base.update(kw)
    return DetectorSpec.model_validate(base)


class RecordingDetector(ImageDetector):
    """Scores red-channel mean; records each batch size; can be told to sleep or fail."""

    def __init__(self, spec=None, device=None, sleep_s=0.0, fail_on_red=None, weights_ok=True):
        super().__init__(spec or make_spec(), device)
        self.sleep_s = sleep_s
        self.fail_on_red = fail_on_red
        self.weights_ok = weights_ok
        self.batches: list[int] = []
        self.threads: set[str] = set()
        self.running = threading.Event()

    def load(self) -> None:
        if not self.weights_ok:
            raise WeightsUnavailable("toy.pt not found in weights/; run make train-detector NAME=toy")

    def predict_batch(self, inputs: list[ImageInput]) -> list[Prediction]:
        self.batches.append(len(inputs))
        self.threads.add(threading.current_thread().name)
        self.running.set()
        try:
            if self.sleep_s:
                time.sleep(self.sleep_s)
            out = []
            for item in inputs:
                red = item.image.getpixel((0, 0))[0]
                if self.fail_on_red is not None and red == self.fail_on_red:
                    raise RuntimeError("poisoned input")
                out.append(Prediction(prob_fake=red / 255, details={"red": red}))
            return out
        finally:
            self.running.clear()

    def explain(self, item, prediction):
        w, h = item.image.size
        return np.tile(np.linspace(0, 1, w), (h, 1))
