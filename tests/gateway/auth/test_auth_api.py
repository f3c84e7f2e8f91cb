"""Every way into the gateway, through the real app: accounts, tokens, API keys and what needs them."""

from __future__ import annotations

import base64
import json
import time

from gateway.auth.jwt_secret import SECRET_FILE_NAME
from gateway.auth.tokens import TokenService
from support.accounts import PASSWORD, bearer, sign_in, sign_up


def upload(data: bytes) -> dict:
    return {"file": ("photo.png", data, "image/png")}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_json(value: dict) -> str:
    return b64url(json.dumps(value).encode())


def service_for(client, clock=time.time) -> TokenService:
    """A token service with the app's own secret (read from the data dir it generated it into)."""
    secret = (client.app.state.gateway.settings.data_dir / SECRET_FILE_NAME).read_text().strip()
    return TokenService(secret, access_ttl_s=60, refresh_ttl_s=3600, clock=clock)


async def test_the_first_account_is_admin_and_later_ones_are_users(auth_gateway):
    async with auth_gateway() as client:
        first = await sign_up(client, "Alice")
        second = await sign_up(client, "bob")
        assert (first["username"], first["role"]) == ("alice", "admin")
        assert (second["username"], second["role"]) == ("bob", "user")
        assert "password" not in json.dumps(first) and "hash" not in json.dumps(first)
        taken = await client.post("/auth/register", json={"username": "ALICE", "password": PASSWORD})
        assert taken.status_code == 409 and taken.json()["error"] == "username_taken"
        for body in ({"username": "x", "password": PASSWORD}, {"username": "carol", "password": "short"}):
            bad = await client.post("/auth/register", json=body)
            assert bad.status_code == 422, body


async def test_sign_in_gives_tokens_that_identify_the_user(auth_gateway):
    async with auth_gateway() as client:
        await sign_up(client, "alice")
        tokens = await sign_in(client, "Alice")  # usernames are case-insensitive
        assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 30 * 60
        me = await client.get("/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200
        assert me.json()["username"] == "alice" and me.json()["role"] == "admin"


async def test_a_wrong_password_and_an_unknown_user_get_the_same_401(auth_gateway):
    async with auth_gateway() as client:
        await sign_up(client, "alice")
        wrong = await client.post("/auth/token", data={"username": "alice", "password": "not the password"})
        unknown = await client.post("/auth/token", data={"username": "nobody", "password": PASSWORD})
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json() == {"error": "wrong_credentials", "detail": "wrong username or password"}
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_an_expired_token_is_refused(auth_gateway):
    async with auth_gateway() as client:
        await sign_up(client, "alice")
        an_hour_ago = service_for(client, clock=lambda: time.time() - 3600)
        expired = an_hour_ago.issue(1, "access")
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {expired}"})
        assert response.status_code == 401 and response.json()["error"] == "token_expired"
        # The same token made now, with the app's key, is accepted: the expiry was the only problem.
        fresh = service_for(client).issue(1, "access")
        assert (
            await client.get("/users/me", headers={"Authorization": f"Bearer {fresh}"})
        ).status_code == 200


async def test_a_token_signed_with_another_key_is_refused(auth_gateway):
    async with auth_gateway() as client:
        await sign_up(client, "alice")
        forged = TokenService("another-key-" + "x1y2z3" * 8, 60, 60).issue(1, "access")
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


async def test_an_alg_none_token_is_refused(auth_gateway):
    async with auth_gateway() as client:
        await sign_up(client, "alice")
        now = int(time.time())
        claims = {"sub": "1", "typ": "access", "iat": now, "exp": now + 600}
        for header in ({"alg": "none", "typ": "JWT"}, {"alg": "None"}, {"alg": "HS512", "typ": "JWT"}):
            unsigned = f"{b64url_json(header)}.{b64url_json(claims)}."
            response = await client.get("/users/me", headers={"Authorization": f"Bearer {unsigned}"})
            assert response.status_code == 401, header
            assert response.json()["error"] == "invalid_token"


async def test_a_tampered_payload_is_refused(auth_gateway):
    async with auth_gateway() as client:
        await sign_up(client, "alice")  # admin, id 1
        await sign_up(client, "mallory")
        token = (await sign_in(client, "mallory"))["access_token"]
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["sub"] = "1"  # claim to be the admin, keeping mallory's signature
        tampered = f"{header}.{b64url_json(claims)}.{signature}"
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {tampered}"})
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"
        untouched = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert untouched.json()["username"] == "mallory"


async def test_the_refresh_flow(auth_gateway):
    async with auth_gateway() as client:
        await sign_up(client, "alice")
        tokens = await sign_in(client, "alice")
        renewed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert renewed.status_code == 200
        new = renewed.json()
        assert new["access_token"] and new["refresh_token"]
        me = await client.get("/users/me", headers={"Authorization": f"Bearer {new['access_token']}"})
        assert me.json()["username"] == "alice"
        # Each kind of token does its own job only.
        wrong_kind = await client.post("/auth/refresh", json={"refresh_token": tokens["access_token"]})
        assert wrong_kind.status_code == 401 and wrong_kind.json()["error"] == "invalid_token"
        as_access = await client.get(
            "/users/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
        )
        assert as_access.status_code == 401
        expired = service_for(client, clock=lambda: time.time() - 7200).issue(1, "refresh")
        late = await client.post("/auth/refresh", json={"refresh_token": expired})
        assert late.status_code == 401 and late.json()["error"] == "token_expired"


async def test_an_api_key_works_until_it_is_revoked(auth_gateway, png):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        created = await client.post("/api-keys", json={"name": "nightly batch"}, headers=alice)
        assert created.status_code == 201
        key = created.json()
        assert key["key"].startswith("trb_") and key["key"].startswith(key["prefix"])
        listed = (await client.get("/api-keys", headers=alice)).json()
        assert [k["name"] for k in listed] == ["nightly batch"]
        assert "key" not in listed[0]  # shown once, at creation
        assert key["key"] not in json.dumps(listed)

        with_key = {"X-API-Key": key["key"]}
        detected = await client.post("/detect", files=upload(png), headers=with_key)
        assert detected.status_code == 200, detected.text
        assert (await client.get("/users/me", headers=with_key)).json()["username"] == "alice"
        history = (await client.get("/history", headers=alice)).json()
        assert [item["id"] for item in history["items"]] == [detected.json()["id"]]
        assert (await client.get("/api-keys", headers=alice)).json()[0]["last_used_at"] is not None

        # Someone else cannot revoke it.
        bob = await bearer(client, "bob")
        assert (await client.delete(f"/api-keys/{key['id']}", headers=bob)).status_code == 404

        revoked = await client.delete(f"/api-keys/{key['id']}", headers=alice)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        refused = await client.post("/detect", files=upload(png), headers=with_key)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_api_key"
        made_up = await client.post("/detect", files=upload(png), headers={"X-API-Key": "trb_made-up"})
        assert made_up.status_code == 401


async def test_nothing_is_detected_or_read_without_an_identity_while_auth_is_on(auth_gateway, png):
    async with auth_gateway() as client:
        for method, path, kwargs in (
            ("POST", "/detect", {"files": upload(png)}),
            ("POST", "/predict", {"json": {"data": base64.b64encode(png).decode()}}),
            ("GET", "/models", {}),
            ("GET", "/history", {}),
            ("GET", "/history/abc", {}),
            ("DELETE", "/history/abc", {}),
            ("GET", "/stats", {}),
            ("GET", "/users/me", {}),
            ("GET", "/api-keys", {}),
        ):
            response = await client.request(method, path, **kwargs)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"] == "not_authenticated"
            assert response.headers["WWW-Authenticate"] == "Bearer"
        for path in ("/health", "/ready", "/metrics", "/auth/config"):
            assert (await client.get(path)).status_code == 200, path
        assert (await client.get("/auth/config")).json() == {"auth_required": True, "registration_open": True}

        headers = await bearer(client, "alice")
        assert (await client.post("/detect", files=upload(png), headers=headers)).status_code == 200
        assert (await client.get("/models", headers=headers)).status_code == 200


async def test_detection_is_open_when_auth_is_off(auth_gateway, png):
    async with auth_gateway(auth_required=False) as client:
        assert (await client.post("/detect", files=upload(png))).status_code == 200
        assert (await client.get("/models")).status_code == 200
        # Accounts still need an account, and a bad credential is still refused.
        assert (await client.get("/users/me")).status_code == 401
        bad = await client.post("/detect", files=upload(png), headers={"Authorization": "Bearer nonsense"})
        assert bad.status_code == 401


async def test_detections_over_the_per_user_limit_get_429_with_retry_after(auth_gateway, png):
    async with auth_gateway(detect_per_minute=2) as client:
        alice = await bearer(client, "alice")
        bob = await bearer(client, "bob")
        for _ in range(2):
            assert (await client.post("/detect", files=upload(png), headers=alice)).status_code == 200
        limited = await client.post("/detect", files=upload(png), headers=alice)
        assert limited.status_code == 429
        assert limited.json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 30  # 2 per minute: one back every 30 s
        # The limit is per user: bob is not affected.
        assert (await client.post("/detect", files=upload(png), headers=bob)).status_code == 200


async def test_sign_in_attempts_are_limited_per_client(auth_gateway):
    async with auth_gateway(login_attempts_per_minute=3) as client:
        await sign_up(client, "alice")  # 1
        for _ in range(2):  # 2, 3
            response = await client.post("/auth/token", data={"username": "alice", "password": "guess"})
            assert response.status_code == 401
        blocked = await client.post("/auth/token", data={"username": "alice", "password": PASSWORD})
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1


async def test_closed_registration_still_lets_the_first_account_in_and_admins_add_users(auth_gateway):
    async with auth_gateway(registration_open=False) as client:
        admin = await bearer(client, "alice")
        closed = await client.post("/auth/register", json={"username": "bob", "password": PASSWORD})
        assert closed.status_code == 403 and closed.json()["error"] == "registration_closed"
        added = await client.post("/users", json={"username": "bob", "password": PASSWORD}, headers=admin)
        assert added.status_code == 201 and added.json()["role"] == "user"
        bob = {"Authorization": f"Bearer {(await sign_in(client, 'bob'))['access_token']}"}
        carol = {"username": "carol", "password": PASSWORD, "role": "admin"}
        refused = await client.post("/users", json=carol, headers=bob)
        assert refused.status_code == 403 and refused.json()["error"] == "admin_required"


async def test_a_deleted_account_loses_access_at_once(auth_gateway):
    from gateway.db.models import User

    async with auth_gateway() as client:
        headers = await bearer(client, "alice")
        with client.app.state.gateway.db.session() as session:
            session.query(User).filter_by(username="alice").update({"disabled": True})
        response = await client.get("/users/me", headers=headers)
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"
