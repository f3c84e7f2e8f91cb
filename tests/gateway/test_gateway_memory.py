"""The gateway holds no pixels and admits huge images through its memory budget (issue 13)."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _flat_png(side: int) -> bytes:
    """A huge image that is tiny on disk (one colour compresses ~1000:1), as in the issue's attack."""
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (120, 130, 140)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def small_budget(monkeypatch):
    """A gateway budget of 8 MB (one 1200x1200 image is 5.5 MB decoded) with a short wait."""
    monkeypatch.setenv("TRIBUNAL_MEMORY_BUDGET_MB", "8")
    monkeypatch.setenv("TRIBUNAL_MEMORY_WAIT_S", "0.1")


async def test_a_huge_image_over_the_budget_is_refused_with_503_and_retry_after(
    small_budget, fakes, gateway_client, gw, png
):
    fakes.set("a", fakes.ok(0.9, delay_s=0.5))
    fakes.set("b", fakes.ok(0.7, delay_s=0.5))
    big = _flat_png(1200)
    async with gateway_client(gw.registry("a", "b")) as client:

        async def detect(data: bytes):
            return await client.post("/detect", files={"file": ("big.png", data, "image/png")})

        first = asyncio.create_task(detect(big))
        await asyncio.sleep(0.2)  # the first one is with the detectors
        second = await detect(big)
        small = await detect(png)  # ordinary uploads fit beside it
        assert (await first).status_code == 200
        assert small.status_code == 200
    assert second.status_code == 503, second.text
    body = gw.error_body(second)
    assert body["error"] == "over_memory_budget" and "gateway" in body["detail"]
    assert int(second.headers["retry-after"]) >= 1
    assert fakes.calls == {"a": 2, "b": 2}  # the refused image never reached a detector


async def test_huge_images_queue_briefly_when_the_wait_allows_it(monkeypatch, fakes, gateway_client, gw):
    monkeypatch.setenv("TRIBUNAL_MEMORY_BUDGET_MB", "8")
    monkeypatch.setenv("TRIBUNAL_MEMORY_WAIT_S", "5")
    fakes.set("a", fakes.ok(0.9, delay_s=0.1))
    big = _flat_png(1200)
    async with gateway_client(gw.registry("a")) as client:
        answers = await asyncio.gather(
            *(client.post("/detect", files={"file": ("big.png", big, "image/png")}) for _ in range(3))
        )
        budget = client.app.state.gateway.service.memory
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert budget.peak < 8 * 1024 * 1024  # one at a time: never two decoded sizes at once
    assert budget.in_use == 0


async def test_a_truncated_huge_png_is_a_400_found_without_decoding_it(fakes, gateway_client, gw):
    fakes.set("a", fakes.ok(0.9))
    big = _flat_png(3000)
    async with gateway_client(gw.registry("a")) as client:
        response = await client.post(
            "/detect", files={"file": ("cut.png", big[: len(big) // 2], "image/png")}
        )
    assert response.status_code == 400
    assert gw.error_body(response)["error"] == "undecodable_media"
    assert fakes.calls["a"] == 0


_GATEWAY_PEAK = textwrap.dedent(
    """
    import asyncio, json, sys, httpx
    from gateway.app import create_app
    from gateway.registry import DetectorEntry, Registry
    from gateway.settings import GatewaySettings

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) / 1024

    async def detector(request):
        if request.url.path == "/ready":
            return httpx.Response(200, json={"ready": True})
        if request.url.path == "/info":
            return httpx.Response(200, json={"name": "a", "version": "1", "task": "binary"})
        return httpx.Response(200, json={"detector": "a", "version": "1", "prob_fake": 0.9, "elapsed_ms": 1.0})

    async def main():
        entry = {"name": "a", "url": "http://a", "port": 9100, "media_types": ["image"], "timeout_s": 5}
        settings = GatewaySettings(auth_required=False, data_dir=sys.argv[2], default_method="average")
        app = create_app(settings, Registry(detectors=[DetectorEntry.model_validate(entry)]),
                         transport=httpx.MockTransport(detector))
        data = open(sys.argv[1], "rb").read()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            async def post(payload):
                return await client.post("/detect", files={"file": ("x.png", payload, "image/png")})
            assert (await post(open(sys.argv[3], "rb").read())).status_code == 200  # warm-up
            before = status("VmRSS")
            response = await post(data)
            print(json.dumps({"status": response.status_code, "peak_rise_mb": status("VmHWM") - before}))
        await app.state.gateway.fanout.aclose()
        app.state.gateway.db.dispose()

    asyncio.run(main())
    """
)


def test_one_huge_image_barely_moves_the_gateways_memory(tmp_path, gw):
    """The issue: one 39.6 MP PNG took the gateway from 301 to 749 MB. It needs no pixels at all."""
    side = 4000  # 16 MP, 64 MB decoded: the old full decode (three copies) peaked near 190 MB here
    huge, small = tmp_path / "huge.png", tmp_path / "small.png"
    huge.write_bytes(_flat_png(side))
    small.write_bytes(gw.image("PNG", size=(64, 48)))
    out = subprocess.run(
        [sys.executable, "-c", _GATEWAY_PEAK, str(huge), str(tmp_path / "data"), str(small)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={
            "PYTHONPATH": f"{REPO}:{REPO / 'sdk'}",
            "PATH": "/usr/bin:/bin",
            "TRIBUNAL_AUTH_REQUIRED": "false",
        },
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 200
    assert result["peak_rise_mb"] < 32, f"the gateway's peak RSS rose {result['peak_rise_mb']:.0f} MB"
