"""A real gateway (auth on) with the latency_probe detector, an account and an API key, for the client tests.

latency_probe scores an image's mean brightness, so a white PNG is "fake", a black one "real" and a
mid-grey one "uncertain" (inside threshold 0.5 ± the 0.1 band).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from support.accounts import PASSWORD
from support.media import png_bytes
from support.stack import detector_entry, running_stack

WHITE = png_bytes((48, 48), (255, 255, 255))
BLACK = png_bytes((48, 48), (0, 0, 0))
GREY = png_bytes((48, 48), (128, 128, 128))


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path) -> None:
    """No developer config or TRIBUNAL_* variable leaks into a test."""
    for name in ("TRIBUNAL_URL", "TRIBUNAL_API_KEY", "TRIBUNAL_TOKEN", "TRIBUNAL_CONFIG", "TRIBUNAL_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TRIBUNAL_TIMEOUT", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.fixture(scope="session")
def gateway(tmp_path_factory) -> Iterator[SimpleNamespace]:
    tmp = tmp_path_factory.mktemp("client-gateway")
    env = {
        "TRIBUNAL_AUTH_REQUIRED": "true",
        "TRIBUNAL_LOG_LEVEL": "WARNING",
        "TRIBUNAL_DETECT_PER_MINUTE": "0",
    }
    with running_stack(tmp, [detector_entry("latency_probe")], env=env) as stack:
        url = stack.service("gateway").url
        with httpx.Client(base_url=url, timeout=30) as http:
            response = http.post("/auth/register", json={"username": "alice", "password": PASSWORD})
            assert response.status_code == 201, response.text
            response = http.post("/auth/token", data={"username": "alice", "password": PASSWORD})
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            response = http.post(
                "/api-keys", json={"name": "client tests"}, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 201, response.text
            api_key = response.json()["key"]
        yield SimpleNamespace(url=url, api_key=api_key, token=token, username="alice", password=PASSWORD)


@pytest.fixture
def images(tmp_path) -> SimpleNamespace:
    folder = tmp_path / "images"
    folder.mkdir()
    paths = {}
    for name, data in (("white", WHITE), ("black", BLACK), ("grey", GREY)):
        path: Path = folder / f"{name}.png"
        path.write_bytes(data)
        paths[name] = path
    return SimpleNamespace(**paths)
