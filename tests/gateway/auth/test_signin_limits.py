"""Sign-in limits through the real app: per address and per account, forwarded headers only from trusted proxies.

The in-process client's peer is 127.0.0.1; a test that makes it a trusted proxy plays clients at other
addresses through X-Forwarded-For.
"""

from __future__ import annotations

import pytest

from support.accounts import PASSWORD, sign_up


def attempt(client, username: str, password: str, forwarded_for: str | None = None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/auth/token", data={"username": username, "password": password}, headers=headers)


def assert_throttled(response, limited_by: str) -> dict:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "rate_limited" and body["limited_by"] == limited_by, body
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1 and body["retry_after_s"] == retry_after
    assert f"Retry in {retry_after} s" in body["detail"]
    return body


async def test_a_correct_password_from_a_throttled_address_gets_a_429_saying_why(auth_gateway):
    async with auth_gateway(login_attempts_per_minute=3) as client:
        await sign_up(client, "alice")  # the address's first request
        for _ in range(2):
            assert (await attempt(client, "alice", "a wrong guess")).status_code == 401
        body = assert_throttled(await attempt(client, "alice", PASSWORD), "address")
    assert "from your address" in body["detail"] and "nothing was checked" in body["detail"]
    assert body["limit_per_minute"] == 3


async def test_forwarded_headers_change_nothing_unless_the_peer_is_a_trusted_proxy(auth_gateway):
    async with auth_gateway(login_attempts_per_minute=3) as client:
        await sign_up(client, "alice")
        for _ in range(2):
            await attempt(client, "alice", "a wrong guess")
        for n in range(12):
            spoofed = {
                "X-Forwarded-For": f"198.51.100.{n}",
                "X-Real-IP": f"198.51.100.{n}",
                "Forwarded": f"for=198.51.100.{n}",
            }
            response = await client.post(
                "/auth/token", data={"username": "alice", "password": "guess"}, headers=spoofed
            )
            assert_throttled(response, "address")


async def test_the_account_limit_holds_whatever_the_address(auth_gateway):
    settings = {
        "trusted_proxies": ["127.0.0.1"],
        "login_attempts_per_minute": 100,
        "login_attempts_per_account_per_minute": 3,
    }
    async with auth_gateway(**settings) as client:
        await sign_up(client, "alice")
        await sign_up(client, "bob")
        for n in range(3):  # three guesses, each from its own address
            assert (await attempt(client, "alice", "guess", f"203.0.113.{n}")).status_code == 401
        # The fourth, even with the right password, from an address never seen, and spelled otherwise.
        body = assert_throttled(await attempt(client, " ALICE", PASSWORD, "203.0.113.99"), "account")
        assert "for this account, from any address" in body["detail"]
        assert body["limit_per_minute"] == 3
        # Other accounts, from the same addresses, are not affected.
        assert (await attempt(client, "bob", PASSWORD, "203.0.113.0")).status_code == 200


async def test_behind_a_trusted_proxy_each_client_address_has_its_own_limit(auth_gateway):
    settings = {"trusted_proxies": ["127.0.0.0/8"], "login_attempts_per_minute": 2}
    async with auth_gateway(**settings) as client:
        await sign_up(client, "alice")
        await sign_up(client, "bob")  # the proxy's own address has used its two now
        assert_throttled(await attempt(client, "alice", PASSWORD), "address")
        # The client is the last address the trusted proxy did not add itself.
        chain = "192.0.2.66, 198.51.100.7, 127.0.0.5"
        for _ in range(2):
            assert (await attempt(client, "alice", PASSWORD, chain)).status_code == 200
        assert_throttled(await attempt(client, "alice", PASSWORD, "10.9.9.9, 198.51.100.7"), "address")
        assert (await attempt(client, "alice", PASSWORD, "198.51.100.8")).status_code == 200


async def test_sign_in_form_values_out_of_bounds_are_a_422_before_any_check(auth_gateway):
    async with auth_gateway() as client:
        await sign_up(client, "alice")
        for data in (
            {"username": "a\x00lice", "password": PASSWORD},
            {"username": "x" * 100, "password": PASSWORD},
            {"username": "alice", "password": "p" * 300},
            {"username": "alice", "password": PASSWORD, "grant_type": "client_credentials"},
        ):
            response = await client.post("/auth/token", data=data)
            assert response.status_code == 422, (data, response.text)
            assert response.json()["error"] == "malformed_request"
        ok = await client.post("/auth/token", data={"username": " Alice ", "password": PASSWORD})
        assert ok.status_code == 200, ok.text


def test_the_two_buckets_on_their_own_with_a_controlled_clock():
    from gateway.auth.errors import SignInThrottled
    from gateway.auth.signin_limits import SignInLimits

    now = [1000.0]
    limits = SignInLimits(per_address=100, per_account=2, clock=lambda: now[0])
    limits.count_sign_in("192.0.2.1", "alice")
    limits.count_sign_in("192.0.2.2", "Alice ")  # the same account, however it is typed
    with pytest.raises(SignInThrottled) as refused:
        limits.count_sign_in("192.0.2.3", "ALICE")
    assert refused.value.extra["limited_by"] == "account" and refused.value.retry_after_s == 30
    limits.count_sign_in("192.0.2.3", "bob")  # another account is not held back
    now[0] += 30
    limits.count_sign_in("192.0.2.4", "alice")  # one attempt's worth came back
    off = SignInLimits(per_address=0, per_account=0)
    for _ in range(100):
        off.count_sign_in("192.0.2.1", "alice")
