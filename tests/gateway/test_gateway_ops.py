"""Operations: /health, /ready, /models, /metrics, request ids, one JSON log line per request."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from gateway.registry import REPO_ROOT
from tribunal_sdk.logs import JsonFormatter


def upload(data: bytes) -> dict:
    return {"file": ("x.png", data, "image/png")}


async def test_health_answers_without_touching_detectors(fakes, gateway_client, gw):
    async with gateway_client(gw.registry("a", "b")) as client:  # neither detector exists
        response = await client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert sum(fakes.calls.values()) == 0 and sum(fakes.probes.values()) == 0


async def test_ready_when_each_media_type_has_a_ready_detector(fakes, gateway_client, gw):
    fakes.set("img1", fakes.ok(0.5), ready=False)
    fakes.set("img2", fakes.ok(0.5))
    fakes.set("vid", fakes.ok(0.5))
    registry = gw.registry("img1", "img2", "vid", vid={"media_types": ["video"]})
    async with gateway_client(registry) as client:
        response = await client.get("/ready")
        assert response.status_code == 200
        body = response.json()
        assert body["ready"] is True
        assert body["media_types"]["image"] == {"ready": ["img2"], "not_ready": ["img1"]}
        assert body["not_ready_reasons"] == {"img1": "weights missing"}

        fakes.set("vid", fakes.ok(0.5), ready=False)
        response = await client.get("/ready")
        assert response.status_code == 503
        body = gw.error_body(response)
        assert body["error"] == "not_ready"
        assert "no ready detector for video (tried: vid)" in body["detail"]


async def test_ready_is_503_when_detectors_are_unreachable_or_none_enabled(fakes, gateway_client, gw):
    async with gateway_client(gw.registry("ghost")) as client:
        response = await client.get("/ready")
        assert response.status_code == 503
        assert "cannot connect" in response.json()["not_ready_reasons"]["ghost"]
    async with gateway_client(gw.registry("off", off={"enabled": False})) as client:
        response = await client.get("/ready")
        assert response.status_code == 503
        assert "no detector is enabled" in gw.error_body(response)["detail"]


async def test_models_lists_the_registry_with_live_state(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9))
    fakes.set("b", fakes.refuse(), ready=False)
    registry = gw.registry("a", "b", "off", off={"enabled": False}, a={"weight": 2.0})
    async with gateway_client(registry, breaker_failures=1) as client:
        await client.post("/detect", files=upload(png))
        response = await client.get("/models")
    assert response.status_code == 200
    body = response.json()
    assert body["ensemble_methods"] == ["average", "stacking", "voting"]
    assert body["media_types"] == ["image"]
    models = {m["name"]: m for m in body["detectors"]}
    assert list(models) == ["a", "b", "off"]
    a, b, off = models["a"], models["b"], models["off"]
    assert (a["ready"], a["version"], a["backbone"], a["weight"], a["breaker"]) == (
        True,
        "1.2.3",
        "fake-net",
        2.0,
        "closed",
    )
    assert a["latency_ms"] is not None and a["last_status"] == "ok"
    assert b["ready"] is False and b["reason"] == "weights missing"
    assert b["breaker"] == "open" and b["last_error"].startswith("unavailable: cannot connect")
    assert off["enabled"] is False and off["ready"] is None
    assert fakes.probes["off"] == 0


async def test_models_reuses_probes_within_the_cache_window(fakes, gateway_client, gw):
    fakes.set("a", fakes.ok(0.9))
    async with gateway_client(gw.registry("a"), models_cache_s=60) as client:
        for _ in range(3):
            assert (await client.get("/models")).status_code == 200
        assert (await client.get("/ready")).status_code == 200
    assert fakes.probes["a"] == 1


async def test_metrics_count_requests_detector_calls_and_breakers(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9))
    fakes.set("b", fakes.refuse())
    async with gateway_client(gw.registry("a", "b"), breaker_failures=1) as client:
        await client.post("/detect", files=upload(png))
        await client.get("/nope")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'tribunal_gateway_requests_total{method="POST",route="/detect",status="200"} 1.0' in text
    assert 'tribunal_gateway_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'tribunal_gateway_detector_calls_total{detector="a",status="ok"} 1.0' in text
    assert 'tribunal_gateway_detector_calls_total{detector="b",status="unavailable"} 1.0' in text
    assert 'tribunal_gateway_breaker_state{detector="a"} 0.0' in text
    assert 'tribunal_gateway_breaker_state{detector="b"} 2.0' in text
    assert 'tribunal_gateway_verdicts_total{media_type="image",method="average",verdict="fake"} 1.0' in text
    assert "tribunal_gateway_request_duration_seconds_bucket" in text
    assert "tribunal_gateway_detector_latency_seconds_bucket" in text
    # The fused score (0.9, from "a" alone) lands in the 0.9 bucket's cumulative count, not below it.
    assert 'tribunal_gateway_fused_score_bucket{le="0.8",media_type="image",method="average"} 0.0' in text
    assert 'tribunal_gateway_fused_score_bucket{le="0.9",media_type="image",method="average"} 1.0' in text
    assert 'tribunal_gateway_fused_score_count{media_type="image",method="average"} 1.0' in text


async def test_request_ids_are_echoed_generated_or_replaced(fakes, gateway_client, gw):
    async with gateway_client(gw.registry("a")) as client:
        echoed = await client.get("/health", headers={"X-Request-ID": "abc-123"})
        assert echoed.headers["X-Request-ID"] == "abc-123"
        generated = await client.get("/health")
        assert len(generated.headers["X-Request-ID"]) == 32
        unsafe = await client.get("/health", headers={"X-Request-ID": 'x"\\ninjected'})
        assert unsafe.headers["X-Request-ID"] != 'x"\\ninjected' and len(unsafe.headers["X-Request-ID"]) == 32
        refused = await client.get("/nope", headers={"X-Request-ID": "on-errors-too"})
        assert refused.headers["X-Request-ID"] == "on-errors-too"


async def test_exactly_one_log_line_per_request(fakes, gateway_client, gw, png, caplog):
    fakes.set("a", fakes.ok(0.9))
    caplog.set_level(logging.INFO)
    async with gateway_client(gw.registry("a")) as client:
        await client.post("/detect", files=upload(png), headers={"X-Request-ID": "one"})
        await client.post("/detect", files=upload(b"text"), headers={"X-Request-ID": "two"})
        await client.get("/health", headers={"X-Request-ID": "three"})
    lines = [r for r in caplog.records if r.name == "gateway.request"]
    assert [r.fields["request_id"] for r in lines] == ["one", "two", "three"]
    first, second, _ = (r.fields for r in lines)
    assert (first["method"], first["path"], first["status"], first["verdict"]) == (
        "POST",
        "/detect",
        200,
        "fake",
    )
    assert first["elapsed_ms"] > 0
    assert second["status"] == 415
    parsed = json.loads(JsonFormatter().format(lines[0]))
    assert parsed["request_id"] == "one" and parsed["msg"] == "request" and parsed["level"] == "INFO"


async def test_an_unexpected_failure_is_a_json_500_and_the_gateway_carries_on(
    fakes, gateway_client, gw, png, caplog
):
    fakes.set("a", fakes.ok(0.9))
    async with gateway_client(gw.registry("a")) as client:
        service = client.app.state.gateway.service
        original = service.detect

        async def explode(*args, **kwargs):
            raise RuntimeError("bug")

        service.detect = explode
        response = await client.post("/detect", files=upload(png), headers={"X-Request-ID": "boom"})
        assert response.status_code == 500
        body = gw.error_body(response)
        assert body == {
            "error": "internal_error",
            "detail": "the service failed unexpectedly",
            "request_id": "boom",
        }
        assert response.headers["X-Request-ID"] == "boom"
        line = next(r for r in caplog.records if r.name == "gateway.request")
        assert line.fields["status"] == 500 and "RuntimeError: bug" in JsonFormatter().format(line)

        service.detect = original
        assert (await client.post("/detect", files=upload(png))).status_code == 200


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("threshold: 2\n", "threshold: Input should be less than 1"),
        ("max_upload_mb: lots\n", "max_upload_mb"),
    ],
)
def test_python_m_gateway_refuses_a_bad_config_naming_the_field(tmp_path, config, expected):
    path = tmp_path / "gateway.yaml"
    path.write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUNAL_")}
    env["TRIBUNAL_CONFIG_FILE"] = str(path)
    result = subprocess.run(
        [sys.executable, "-m", "gateway"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr and expected in result.stderr
    assert str(path) in result.stderr
