"""The sign-in limits on the real server (``python -m gateway`` under uvicorn), where forwarded headers
once changed the client address: uvicorn believed X-Forwarded-For from loopback by default."""

from __future__ import annotations

import httpx
import pytest

from support.accounts import PASSWORD
from support.stack import detector_entry, running_stack

pytestmark = pytest.mark.integration


def gateway_url(tmp_path, **env: str):
    env = {"TRIBUNAL_AUTH_REQUIRED": "true", "TRIBUNAL_LOG_LEVEL": "WARNING", **env}
    return running_stack(tmp_path, [detector_entry("latency_probe")], env=env)


def attempt(client: httpx.Client, password: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/auth/token", data={"username": "alice", "password": password}, headers=headers or {})


def test_changing_the_forwarded_address_does_not_dodge_the_limit(tmp_path):
    with (
        gateway_url(tmp_path, TRIBUNAL_LOGIN_ATTEMPTS_PER_MINUTE="3") as stack,
        httpx.Client(base_url=stack.service("gateway").url, timeout=10) as client,
    ):
        assert (
            client.post("/auth/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
        )
        for _ in range(2):
            assert attempt(client, "a wrong guess").status_code == 401
        assert attempt(client, "a wrong guess").status_code == 429
        for n in range(12):  # each "from" another address: none gets a password check
            spoofed = {"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"198.51.100.{n}"}
            response = attempt(client, "another guess", spoofed)
            assert response.status_code == 429, (n, response.text)
            assert response.json()["limited_by"] == "address"
        # The right password is refused too, saying why and until when, not with a 401.
        right = attempt(client, PASSWORD)
        assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1
        assert "from your address" in right.json()["detail"]


def test_behind_a_trusted_proxy_the_account_limit_holds_across_addresses(tmp_path):
    env = {
        "TRIBUNAL_TRUSTED_PROXIES": "127.0.0.1",
        "TRIBUNAL_LOGIN_ATTEMPTS_PER_MINUTE": "100",
        "TRIBUNAL_LOGIN_ATTEMPTS_PER_ACCOUNT_PER_MINUTE": "3",
    }
    with (
        gateway_url(tmp_path, **env) as stack,
        httpx.Client(base_url=stack.service("gateway").url, timeout=10) as client,
    ):
        assert (
            client.post("/auth/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
        )
        for n in range(3):
            assert attempt(client, "guess", {"X-Forwarded-For": f"203.0.113.{n}"}).status_code == 401
        for n in range(3, 8):
            response = attempt(client, PASSWORD, {"X-Forwarded-For": f"203.0.113.{n}"})
            assert response.status_code == 429, response.text
            assert response.json()["limited_by"] == "account"
