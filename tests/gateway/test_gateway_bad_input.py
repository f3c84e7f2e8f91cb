"""Bad input gets a clear 4xx JSON answer, nothing crashes, and the next request is served normally."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import AsyncIterator

import pytest
from PIL import ImageFile

from tribunal_sdk import media


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@pytest.fixture(scope="session")
def png_bomb() -> bytes:
    """A genuine 20000x20000 1-bit PNG (400 megapixels) that is tiny on disk."""
    width = height = 20000
    row = b"\x00" * (1 + width // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


@pytest.fixture
async def client(fakes, gateway_client, gw):
    fakes.set("a", fakes.ok(0.9))
    fakes.set("b", fakes.ok(0.7))
    async with gateway_client(gw.registry("a", "b")) as opened:
        yield opened


async def still_serves(client, png) -> None:
    response = await client.post("/detect", files={"file": ("ok.png", png, "image/png")})
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "fake"


def file_part(data: bytes, name: str = "upload.bin") -> dict:
    return {"file": (name, data, "application/octet-stream")}


async def test_an_empty_file_is_a_400(client, gw, png):
    response = await client.post("/detect", files=file_part(b"", "empty.png"))
    assert response.status_code == 400
    assert gw.error_body(response)["error"] == "empty_file"
    await still_serves(client, png)


async def test_a_zero_byte_request_body_is_refused_with_json(client, gw, png):
    response = await client.post("/detect", content=b"")
    assert response.status_code == 415
    assert "multipart/form-data" in gw.error_body(response)["detail"]
    empty_json = await client.post("/predict", json={"data": ""})
    assert empty_json.status_code == 400
    assert gw.error_body(empty_json)["error"] == "empty_file"
    await still_serves(client, png)


async def test_a_text_file_is_a_415(client, gw, png):
    response = await client.post("/detect", files={"file": ("notes.png", b"hello, I am text\n", "image/png")})
    assert response.status_code == 415
    body = gw.error_body(response)
    assert body["error"] == "unsupported_media_type"
    assert "jpeg, png" in body["detail"]
    await still_serves(client, png)


async def test_a_non_multipart_body_to_detect_is_a_415(client, gw, png):
    response = await client.post("/detect", json={"data": "abc"})
    assert response.status_code == 415
    assert gw.error_body(response)["error"] == "unsupported_content_type"
    await still_serves(client, png)


async def test_a_non_json_body_to_predict_is_a_422(client, gw, png):
    response = await client.post("/predict", content=b"data=abc", headers={"content-type": "text/plain"})
    assert response.status_code == 422
    gw.error_body(response)
    invalid_json = await client.post(
        "/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert invalid_json.status_code == 422
    assert gw.error_body(invalid_json)["error"] == "malformed_request"
    await still_serves(client, png)


async def test_a_missing_file_field_is_a_422(client, gw, png):
    response = await client.post("/detect", files={"other": ("x.png", png, "image/png")})
    assert response.status_code == 422
    assert gw.error_body(response)["error"] == "missing_file"
    await still_serves(client, png)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
async def test_a_truncated_image_is_a_400(client, gw, png, fmt):
    whole = gw.image(fmt, size=(256, 256), seed=3)
    response = await client.post("/detect", files=file_part(whole[: len(whole) // 2]))
    assert response.status_code == 400
    body = gw.error_body(response)
    assert body["error"] == "undecodable_media"
    assert fmt.lower() in body["detail"]
    await still_serves(client, png)


async def test_a_png_decompression_bomb_is_a_413(client, gw, png, png_bomb, fakes):
    assert len(png_bomb) < 200_000  # tiny on disk, 400 megapixels once decoded
    response = await client.post("/detect", files=file_part(png_bomb, "bomb.png"))
    assert response.status_code == 413
    body = gw.error_body(response)
    assert body["error"] == "too_many_pixels"
    assert re.search(r"20000x20000|400000000 pixels", body["detail"]), body["detail"]
    assert sum(fakes.calls.values()) == 0  # no detector ever saw it
    await still_serves(client, png)


async def test_a_60_mb_upload_is_a_413(client, gw, png, fakes):
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (60 * 1024 * 1024)
    response = await client.post("/detect", files=file_part(big, "huge.png"))
    assert response.status_code == 413
    body = gw.error_body(response)
    assert body["error"] == "file_too_large"
    assert "50.1 MB" in body["detail"] and "TRIBUNAL_MAX_UPLOAD_MB" in body["detail"]
    assert sum(fakes.calls.values()) == 0
    await still_serves(client, png)


async def test_an_oversized_body_without_content_length_is_cut_off_while_reading(
    fakes, gateway_client, gw, png
):
    fakes.set("a", fakes.ok(0.9))

    async def chunks() -> AsyncIterator[bytes]:  # a chunked upload: no Content-Length to check up front
        for _ in range(40):
            yield b"\x00" * 65536

    async with gateway_client(gw.registry("a"), max_upload_mb=1) as client:
        response = await client.post(
            "/detect", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
        )
        assert response.status_code == 413
        assert gw.error_body(response)["error"] == "file_too_large"
        await still_serves(client, png)


async def test_a_file_just_over_the_cap_is_a_413(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9))
    async with gateway_client(gw.registry("a"), max_upload_mb=0.01) as client:  # 10 KiB
        big_png = gw.image("PNG", size=(96, 96), seed=1)
        assert 10 * 1024 < len(big_png) < 64 * 1024  # inside the multipart envelope allowance
        response = await client.post("/detect", files=file_part(big_png))
        assert response.status_code == 413
        assert gw.error_body(response)["error"] == "file_too_large"
        tiny = gw.image("PNG", size=(8, 8))
        assert (await client.post("/detect", files=file_part(tiny))).status_code == 200


async def test_a_huge_image_over_the_pixel_cap_is_a_413(fakes, gateway_client, gw):
    fakes.set("a", fakes.ok(0.9))
    async with gateway_client(gw.registry("a"), max_pixels=1000) as client:
        response = await client.post("/detect", files=file_part(gw.image("PNG", size=(64, 64))))
    assert response.status_code == 413
    assert gw.error_body(response)["error"] == "too_many_pixels"


@pytest.mark.parametrize("data", ["not base64 at all!", "iVBORw0KGgo=x", "a", "====", "iVBO\u00e9Rw0K"])
async def test_malformed_base64_is_a_422(client, gw, png, data):
    response = await client.post("/predict", json={"data": data})
    assert response.status_code == 422
    assert gw.error_body(response)["error"] == "malformed_base64"
    await still_serves(client, png)


async def test_predict_validates_its_fields(client, gw, png):
    encoded = base64.b64encode(png).decode()
    for payload in ({}, {"data": encoded, "threshold": 0}, {"data": encoded, "colour": "blue"}):
        response = await client.post("/predict", json=payload)
        assert response.status_code == 422, payload
        assert gw.error_body(response)["error"] == "malformed_request"
    unknown = await client.post("/predict", json={"data": encoded, "ensemble_method": "median"})
    assert unknown.status_code == 422
    await still_serves(client, png)


async def test_unknown_routes_and_methods_answer_json(client, gw, png):
    missing = await client.get("/nope")
    assert missing.status_code == 404 and gw.error_body(missing)["error"] == "not_found"
    wrong_method = await client.get("/detect")
    assert wrong_method.status_code == 405 and gw.error_body(wrong_method)["error"] == "method_not_allowed"
    await still_serves(client, png)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
async def test_the_gateway_decodes_no_pixels_of_a_png_or_jpeg(client, gw, fmt, monkeypatch):
    data = gw.image(fmt, size=(256, 256), seed=4)

    def no_pixels(self, *args, **kwargs):
        raise AssertionError("the gateway decoded pixels")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_pixels)
    monkeypatch.setattr(media, "check_png_stream", no_pixels)  # verify_image's PNG inflate
    response = await client.post("/detect", files=file_part(data))
    assert response.status_code == 200, response.text


async def test_an_image_whole_but_undecodable_is_the_400_its_detectors_answered(fakes, client, gw, png):
    refusal = {"error": "undecodable_media", "detail": "png image could not be decoded: corrupt image data"}
    fakes.set("a", fakes.status(400, refusal))
    fakes.set("b", fakes.status(400, refusal))
    response = await client.post("/detect", files=file_part(png))
    assert response.status_code == 400
    body = gw.error_body(response)
    assert body["error"] == "undecodable_media"
    assert "corrupt image data" in body["detail"]
    fakes.set("a", fakes.ok(0.9))
    fakes.set("b", fakes.ok(0.7))
    await still_serves(client, png)
