"""Account helpers for API tests: sign up, sign in, and the headers that carry an identity."""

from __future__ import annotations

import httpx

PASSWORD = "correct horse battery"


async def sign_up(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict:
    response = await client.post("/auth/register", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return response.json()


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict:
    response = await client.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


async def bearer(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Sign up and sign in ``username``; the Authorization header for its access token."""
    await sign_up(client, username, password)
    tokens = await sign_in(client, username, password)
    return {"Authorization": f"Bearer {tokens['access_token']}"}
