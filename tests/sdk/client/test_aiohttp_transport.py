"""The aiohttp transport behind the fan-out client, against real sockets on loopback."""

import asyncio

import httpx
import pytest

from scripts.local_stack import free_port
from tribunal_sdk.client.aiohttp_transport import AiohttpTransport


async def _serve(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_round_trip_keeps_method_headers_body_and_status():
    seen = {}

    async def handler(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        seen["head"], seen["body"] = head, await reader.readexactly(length)
        body = b'{"ok": true}'
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server, port = await _serve(handler)
    async with server, httpx.AsyncClient(transport=AiohttpTransport()) as client:
        response = await client.post(
            f"http://127.0.0.1:{port}/predict?explain=true", content=b"abc", headers={"X-Request-ID": "r1"}
        )
    assert response.status_code == 201
    assert response.json() == {"ok": True}
    assert seen["head"].startswith(b"POST /predict?explain=true HTTP/1.1")
    assert b"x-request-id: r1" in seen["head"].lower()
    assert seen["body"] == b"abc"


async def test_refused_connection_is_a_connect_error():
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{free_port()}/health")


async def test_dropped_connection_is_a_read_error():
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server, port = await _serve(handler)
    async with server, httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ReadError):
            await client.get(f"http://127.0.0.1:{port}/health")


async def test_post_without_httpx_maps_errors_the_same_way():
    transport = AiohttpTransport()
    try:
        with pytest.raises(httpx.ConnectError):
            await transport.post(f"http://127.0.0.1:{free_port()}/predict", b"abc", {})
    finally:
        await transport.aclose()
