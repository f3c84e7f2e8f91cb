"""The detector service contract, through the real FastAPI app the SDK builds."""

import base64
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from support.media import png_bytes
from support.toy_detectors import RecordingDetector, make_spec
from tribunal_sdk import create_app
from tribunal_sdk.settings import ServiceSettings


@pytest.fixture
def detector():
    return RecordingDetector()


@pytest.fixture
def client(detector):
    with TestClient(create_app(detector, ServiceSettings())) as c:
        _wait_ready(c)
        yield c


def _wait_ready(client, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/ready").status_code == 200:
            return
        time.sleep(0.01)
    raise AssertionError("service never became ready")


def test_health_ready_info(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/ready").json()["ready"] is True
    assert client.get("/v2/health/ready").status_code == 200
    info = client.get("/info").json()
    assert info["name"] == "toy" and info["version"] == "1.2.3"
    assert info["media_types"] == ["image"] and info["task"] == "binary"
    assert info["device"] == "cpu" and info["max_batch_size"] == 8


def test_predict_multipart(client):
    r = client.post("/predict", files={"file": ("x.png", png_bytes(color=(51, 0, 0)), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["detector"] == "toy" and body["version"] == "1.2.3"
    assert body["prob_fake"] == pytest.approx(0.2)
    assert body["abstained"] is False and body["elapsed_ms"] > 0
    assert body["details"] == {"red": 51}


def test_predict_json_base64_matches_multipart(client):
    data = png_bytes(color=(102, 0, 0))
    r = client.post("/predict", json={"media_type": "image", "data": base64.b64encode(data).decode()})
    assert r.status_code == 200, r.text
    assert r.json()["prob_fake"] == pytest.approx(0.4)


def test_file_name_and_content_type_are_not_trusted(client):
    r = client.post("/predict", files={"file": ("photo.jpg", png_bytes(), "image/jpeg")})
    assert r.status_code == 200
    r = client.post("/predict", files={"file": ("photo.png", b"just some text", "image/png")})
    assert r.status_code == 415
    assert r.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "kwargs,status,error",
    [
        ({"files": {"file": ("e.png", b"", "image/png")}}, 400, "empty_file"),
        ({"files": {"other": ("e.png", png_bytes(), "image/png")}}, 422, "malformed_request"),
        ({"json": {"media_type": "image", "data": "@@not base64@@"}}, 422, "malformed_base64"),
        ({"json": {"media_type": "image"}}, 422, "malformed_request"),
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
            "malformed_request",
        ),
        (
            {"content": b"raw bytes", "headers": {"content-type": "text/plain"}},
            415,
            "unsupported_request_type",
        ),
        ({"files": {"file": ("t.png", png_bytes((64, 64))[:-30], "image/png")}}, 400, "undecodable_media"),
    ],
)
def test_bad_requests_get_typed_errors_and_the_service_carries_on(client, kwargs, status, error):
    r = client.post("/predict", **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    assert r.json()["detail"]
    assert client.post("/predict", files={"file": ("ok.png", png_bytes(), "image/png")}).status_code == 200


def test_upload_over_the_cap_is_413(detector):
    settings = ServiceSettings(max_upload_mb=0.05)
    with TestClient(create_app(detector, settings)) as client:
        _wait_ready(client)
        big = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200_000
        r = client.post("/predict", files={"file": ("big.png", big, "image/png")})
        assert r.status_code == 413
        assert r.json()["error"] == "file_too_large"


def test_missing_weights_alive_but_not_ready():
    detector = RecordingDetector(weights_ok=False)
    with TestClient(create_app(detector, ServiceSettings())) as client:
        time.sleep(0.05)
        assert client.get("/health").status_code == 200
        r = client.get("/ready")
        assert r.status_code == 503
        assert r.json()["ready"] is False
        assert "toy.pt not found" in r.json()["reason"]
        r = client.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})
        assert r.status_code == 503
        assert r.json()["error"] == "not_ready"
        assert "make train-detector" in r.json()["detail"]


def test_lazy_mode_loads_on_first_predict():
    detector = RecordingDetector()
    loads = []
    original = detector.load
    detector.load = lambda: loads.append(1) or original()
    with TestClient(create_app(detector, ServiceSettings(load_mode="lazy"))) as client:
        time.sleep(0.05)
        assert loads == []
        r = client.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})
        assert r.status_code == 200
        assert loads == [1]
        assert client.get("/ready").status_code == 200


def test_health_answers_while_a_batch_runs():
    detector = RecordingDetector(sleep_s=1.0)
    with TestClient(create_app(detector, ServiceSettings())) as client:
        _wait_ready(client)
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(client.post, "/predict", files={"file": ("x.png", png_bytes(), "image/png")})
            assert detector.running.wait(2.0)
            started = time.perf_counter()
            assert client.get("/health").status_code == 200
            assert client.get("/ready").status_code == 200
            assert time.perf_counter() - started < 0.5
            assert slow.result().status_code == 200


def test_concurrent_requests_share_a_forward_pass_on_one_worker_thread():
    detector = RecordingDetector(
        spec=make_spec(batching={"max_batch_size": 16, "max_delay_ms": 50}), sleep_s=0.05
    )
    with TestClient(create_app(detector, ServiceSettings())) as client:
        _wait_ready(client)
        colors = [(i * 10, 0, 0) for i in range(12)]
        with ThreadPoolExecutor(12) as pool:
            responses = list(
                pool.map(
                    lambda c: client.post(
                        "/predict", files={"file": ("x.png", png_bytes(color=c), "image/png")}
                    ),
                    colors,
                )
            )
    assert [r.json()["details"]["red"] for r in responses] == [c[0] for c in colors]
    assert sum(detector.batches) == 12
    assert max(detector.batches) > 1, detector.batches
    assert len(detector.threads) == 1
    assert threading.current_thread().name not in detector.threads


def test_a_poisoned_input_fails_alone(tmp_path):
    detector = RecordingDetector(
        spec=make_spec(batching={"max_batch_size": 8, "max_delay_ms": 50}), fail_on_red=13
    )
    with TestClient(create_app(detector, ServiceSettings())) as client:
        _wait_ready(client)
        colors = [(10, 0, 0), (13, 0, 0), (20, 0, 0)]
        with ThreadPoolExecutor(3) as pool:
            responses = list(
                pool.map(
                    lambda c: client.post(
                        "/predict", files={"file": ("x.png", png_bytes(color=c), "image/png")}
                    ),
                    colors,
                )
            )
        assert [r.status_code for r in responses] == [200, 500, 200]
        assert responses[1].json()["error"] == "inference_failed"
        assert "poisoned input" in responses[1].json()["detail"]
        assert client.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")}).status_code == 200


def test_explain_returns_a_png_heatmap(client):
    r = client.post("/predict?explain=true", files={"file": ("x.png", png_bytes((64, 48)), "image/png")})
    assert r.status_code == 200
    png = base64.b64decode(r.json()["heatmap_png"])
    assert png.startswith(b"\x89PNG")
    r = client.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})
    assert r.json()["heatmap_png"] is None


def test_request_id_is_echoed(client):
    r = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert len(client.get("/health").headers["x-request-id"]) == 32


def test_metrics_count_requests_and_batches(client):
    client.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})
    client.post("/predict", files={"file": ("x.png", b"nope", "image/png")})
    text = client.get("/metrics").text
    assert 'tribunal_detector_requests_total{detector="toy",status="200"} 1.0' in text
    assert 'tribunal_detector_requests_total{detector="toy",status="415"} 1.0' in text
    assert "tribunal_detector_batch_size_count" in text
    assert 'tribunal_detector_ready{detector="toy"} 1.0' in text


def test_unknown_route_is_json_404(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


class _ThreadReportingDetector(RecordingDetector):
    """Reports the CPU threads its model code would get, from the model's worker thread."""

    seen: dict[str, int]

    def predict_batch(self, inputs):
        import torch
        from threadpoolctl import threadpool_info

        self.seen = {"torch": torch.get_num_threads()}
        for pool in threadpool_info():
            self.seen[pool["user_api"]] = pool["num_threads"]
        return super().predict_batch(inputs)


def test_cpu_threads_caps_torch_and_openmp_for_the_model():
    import torch

    before = torch.get_num_threads()
    detector = _ThreadReportingDetector()
    try:
        with TestClient(create_app(detector, ServiceSettings(cpu_threads=1))) as c:
            _wait_ready(c)
            r = c.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})
            assert r.status_code == 200, r.text
    finally:
        torch.set_num_threads(before)
    assert detector.seen["torch"] == 1
    assert all(n == 1 for n in detector.seen.values()), detector.seen


def test_an_image_is_sniffed_its_headers_read_and_decoded_once_per_request(client, monkeypatch):
    from tribunal_sdk import app as app_module
    from tribunal_sdk import media

    calls: Counter[str] = Counter()

    def counted(name, function):
        def call(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return call

    for name in ("sniff", "read_header", "decode_image"):
        monkeypatch.setattr(app_module, name, counted(name, getattr(app_module, name)))
    for name in ("sniff", "probe_image", "verify_image"):
        monkeypatch.setattr(media, name, counted(f"media.{name}", getattr(media, name)))
    r = client.post("/predict", files={"file": ("x.png", png_bytes(color=(51, 0, 0)), "image/png")})
    assert r.status_code == 200, r.text
    assert calls == {"sniff": 1, "read_header": 1, "decode_image": 1}
