"""Which credential wins when a request carries both a bearer token and an X-API-Key: neither may be bad."""

from __future__ import annotations

from support.accounts import bearer


async def api_key(client, headers: dict) -> str:
    created = await client.post("/api-keys", json={"name": "script"}, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()["key"]


async def test_a_bad_api_key_next_to_a_good_token_is_a_401(auth_gateway):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        response = await client.get("/users/me", headers={**alice, "X-API-Key": "trb_not-a-key"})
        assert response.status_code == 401 and response.json()["error"] == "invalid_api_key"


async def test_a_bad_token_next_to_a_good_api_key_is_a_401(auth_gateway):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        key = await api_key(client, alice)
        headers = {"Authorization": "Bearer not.a.token", "X-API-Key": key}
        response = await client.get("/users/me", headers=headers)
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_token_and_a_key_of_two_accounts_are_a_401(auth_gateway):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        bob = await bearer(client, "bob")
        bobs_key = await api_key(client, bob)
        response = await client.get("/history", headers={**alice, "X-API-Key": bobs_key})
        assert response.status_code == 401 and response.json()["error"] == "conflicting_credentials"


async def test_a_good_token_and_a_good_key_of_the_same_account_are_accepted(auth_gateway):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        key = await api_key(client, alice)
        response = await client.get("/users/me", headers={**alice, "X-API-Key": key})
        assert response.status_code == 200 and response.json()["username"] == "alice"
