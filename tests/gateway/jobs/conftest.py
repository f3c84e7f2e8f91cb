"""A real gateway app with its lifespan running (so the job engine runs), fake detectors behind it.

``jobs_gateway(**settings)`` opens an httpx client on it; ``wait_for_job`` polls until the job has
nothing pending. Archives are built in memory by the helpers here.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from gateway.app import create_app


@pytest.fixture
def jobs_gateway(fakes, gw, tmp_path):
    """Factory: ``async with jobs_gateway(**settings) as client`` - one fake detector "a" (P(fake) 0.8)
    unless the test sets others; auth off unless ``auth_required=True``."""

    @asynccontextmanager
    async def open_client(registry=None, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        if registry is None:
            fakes.set("a", fakes.ok(0.8, {"real": 0.2, "sdxl": 0.8}))
            registry = gw.registry("a")
        settings.setdefault("data_dir", tmp_path / "data")
        settings.setdefault("jobs_quiet_s", 0.0)
        app = create_app(gw.settings(**settings), registry, transport=fakes.transport())
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as client,
        ):
            client.app = app  # type: ignore[attr-defined]
            yield client

    return open_client


async def wait_for_job(
    client: httpx.AsyncClient, job_id: str, headers: dict | None = None, timeout_s: float = 20.0
) -> dict:
    """The job once nothing of it is queued or running (its detail, first page of items)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get(f"/jobs/{job_id}", headers=headers, params={"page_size": 1000})
        assert response.status_code == 200, response.text
        body = response.json()
        if body["progress"]["queued"] + body["progress"]["running"] == 0:
            return body
        assert time.monotonic() < deadline, f"job still pending: {body['progress']}"
        await asyncio.sleep(0.05)


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def tar_bytes(members: list[tarfile.TarInfo | tuple[str, bytes]], gz: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w", format=tarfile.GNU_FORMAT) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="session")
def jobs() -> SimpleNamespace:
    return SimpleNamespace(wait=wait_for_job, zip=zip_bytes, tar=tar_bytes)
