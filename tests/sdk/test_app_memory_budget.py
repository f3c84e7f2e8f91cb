"""The memory budget through the detector service: large images queue or get 503, never pile up.

Only the service's public surface is used here (settings, HTTP), so these tests show the behaviour, not
the module layout.
"""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from support.media import png_bytes
from support.toy_detectors import RecordingDetector
from tribunal_sdk import ImageDetector, ImageInput, Prediction, create_app
from tribunal_sdk.settings import ServiceSettings


def _big_png(side: int = 1200) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()  # 1.44 MP: about 5.8 MB decoded


def _client(detector, **settings) -> TestClient:
    return TestClient(create_app(detector, ServiceSettings(**settings)))


def _wait_ready(client: TestClient) -> None:
    deadline = time.monotonic() + 5
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, "service never became ready"
        time.sleep(0.01)


def _post(client: TestClient, data: bytes):
    return client.post("/predict", files={"file": ("x.png", data, "image/png")})


def test_the_service_refuses_a_large_image_over_its_budget_with_503_and_retry_after():
    detector = RecordingDetector(sleep_s=0.6)
    with _client(detector, memory_budget_mb=2, memory_wait_s=0.1) as client:
        _wait_ready(client)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(_post, client, _big_png())
            while not detector.running.is_set():  # the first image is decoded and being scored
                time.sleep(0.005)
            second = _post(client, _big_png())
            assert first.result().status_code == 200
        assert second.status_code == 503, second.text
        assert second.json()["error"] == "over_memory_budget"
        assert int(second.headers["retry-after"]) >= 1
        assert detector.batches == [1]  # the refused image never reached the model
        # Small images are not held back by the budget, and the service carries on.
        assert _post(client, png_bytes(color=(51, 0, 0))).json()["prob_fake"] == pytest.approx(0.2)
        metrics = client.get("/metrics").text
        assert 'status="503"' in metrics
        assert 'tribunal_detector_memory_budget_in_use_bytes{detector="toy"} 0.0' in metrics


def test_the_service_queues_a_large_image_briefly_instead_of_refusing_it():
    detector = RecordingDetector(sleep_s=0.3)
    with _client(detector, memory_budget_mb=2, memory_wait_s=5) as client:
        _wait_ready(client)
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda _: _post(client, _big_png()), range(3)))
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert detector.batches == [1, 1, 1]  # admitted one at a time: never two decoded images at once


class BytesOnlyDetector(ImageDetector):
    """Reads the file's bytes only, like metadata_provenance."""

    reads_pixels = False

    def __init__(self):
        super().__init__(RecordingDetector().spec)
        self.seen: list[ImageInput] = []

    def load(self) -> None:
        pass

    def predict_batch(self, inputs: list[ImageInput]) -> list[Prediction]:
        self.seen += inputs
        return [Prediction(prob_fake=len(item.raw) % 2) for item in inputs]


def test_a_detector_that_reads_no_pixels_gets_no_pixels_but_still_a_400_for_a_broken_image():
    detector = BytesOnlyDetector()
    pixels = np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    data = buf.getvalue()
    with _client(detector) as client:
        _wait_ready(client)
        assert _post(client, data).status_code == 200
        (item,) = detector.seen
        assert item.image is None and item.raw == data and item.size == (200, 300)
        truncated = _post(client, data[: len(data) // 2])
        assert truncated.status_code == 400 and truncated.json()["error"] == "undecodable_media"
        assert len(detector.seen) == 1
