"""The real gateway process on a real PostgreSQL server (TRIBUNAL_DATABASE_URL), over HTTP.

The test starts PostgreSQL itself (support/postgres.py: Debian's binaries, a throwaway cluster on a
free port, in a +05:45 time zone), then the gateway and one real detector the way `make start` does
(scripts/local_stack.py), so the schema comes from the gateway's own start-up migration.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from gateway.db.engine import Database
from gateway.db.migrate import alembic_config, current_revision
from gateway.db.models import Analysis, ApiKey, DetectorResult, User
from support.media import png_bytes
from support.postgres import PostgresServer, running_postgres
from support.stack import detector_entry, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery"
PER_USER = 12  # detections each of two users sends at once


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with running_postgres() as running:
        yield running


def gateway_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TRIBUNAL_DATABASE_URL": database_url,
        # With a database other gateways could share, the gateway wants the signing secret given.
        "TRIBUNAL_JWT_SECRET": secrets.token_urlsafe(48),
        "TRIBUNAL_AUTH_REQUIRED": "true",
        "TRIBUNAL_DATA_DIR": str(tmp_path / "data"),
        "TRIBUNAL_DETECT_PER_MINUTE": "0",
        "TRIBUNAL_LOGIN_ATTEMPTS_PER_MINUTE": "0",
        "TRIBUNAL_LOGIN_ATTEMPTS_PER_ACCOUNT_PER_MINUTE": "0",
        "TRIBUNAL_DEFAULT_METHOD": "average",
        "TRIBUNAL_LOG_LEVEL": "WARNING",
    }


def sign_up_and_in(client: httpx.Client, username: str) -> tuple[dict, dict[str, str]]:
    """Register ``username``; its account and the Authorization header of a fresh access token."""
    made = client.post("/auth/register", json={"username": username, "password": PASSWORD})
    assert made.status_code == 201, made.text
    tokens = client.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return made.json(), {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def detect(client: httpx.Client, headers: dict[str, str], seed: int) -> httpx.Response:
    image = png_bytes((48, 40), (seed % 256, (seed * 7) % 256, 90))
    return client.post("/detect", files={"file": (f"p{seed}.png", image, "image/png")}, headers=headers)


def history_ids(client: httpx.Client, headers: dict[str, str], **params) -> tuple[int, set[str]]:
    response = client.get("/history", params={"page_size": 100, **params}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["total"], {item["id"] for item in body["items"]}


def test_the_gateway_on_postgresql_keeps_users_apart_and_loses_no_row(server, tmp_path):
    url = server.create_database("gateway")
    env = gateway_env(url, tmp_path)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    with (
        running_stack(tmp_path, [detector_entry("latency_probe")], env=env) as stack,
        httpx.Client(base_url=stack.service("gateway").url, timeout=60) as client,
    ):
        # The gateway's start-up migrated the empty database, as `make start` does.
        database = Database(url)
        assert current_revision(database.engine) == head

        alice, alice_auth = sign_up_and_in(client, "alice")
        bob, bob_auth = sign_up_and_in(client, "bob")
        carol, carol_auth = sign_up_and_in(client, "carol")
        assert (alice["role"], bob["role"], carol["role"]) == ("admin", "user", "user")
        assert (
            client.post("/auth/register", json={"username": "BOB", "password": PASSWORD}).status_code == 409
        )

        # Bob's script uses an API key, Carol her token.
        created = client.post("/api-keys", json={"name": "nightly batch"}, headers=bob_auth)
        assert created.status_code == 201, created.text
        bob_key = {"X-API-Key": created.json()["key"]}

        # Both send their detections at once: every answer is a row, owned by who asked.
        jobs = [(bob_key, i) for i in range(PER_USER)] + [(carol_auth, 1000 + i) for i in range(PER_USER)]
        started = datetime.now(UTC)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda job: detect(client, *job), jobs))
        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert not any("history" in w for w in answer.json()["warnings"]), answer.json()["warnings"]
        bob_ids = {a.json()["id"] for a in answers[:PER_USER]}
        carol_ids = {a.json()["id"] for a in answers[PER_USER:]}
        assert len(bob_ids) == len(carol_ids) == PER_USER

        # Each sees exactly their own rows, by key or by token alike.
        assert history_ids(client, bob_key) == (PER_USER, bob_ids)
        assert history_ids(client, bob_auth) == (PER_USER, bob_ids)
        assert history_ids(client, carol_auth) == (PER_USER, carol_ids)
        assert history_ids(client, alice_auth) == (2 * PER_USER, bob_ids | carol_ids)
        assert history_ids(client, alice_auth, username="bob") == (PER_USER, bob_ids)
        assert client.get("/stats", headers=bob_auth).json()["total"] == PER_USER
        assert client.get("/stats", headers=alice_auth).json()["total"] == 2 * PER_USER
        assert client.get("/history").status_code == 401

        # Someone else's analysis does not exist for Bob: not readable, not deletable.
        theirs = sorted(carol_ids)[0]
        assert client.get(f"/history/{theirs}", headers=bob_key).status_code == 404
        assert client.delete(f"/history/{theirs}", headers=bob_auth).status_code == 404
        assert client.get(f"/history/{theirs}", headers=carol_auth).json()["id"] == theirs
        mine = sorted(bob_ids)[0]
        assert client.get(f"/history/{mine}", headers=bob_key).json()["id"] == mine

        # Times come back as UTC instants; filters take any offset (the server runs at +05:45).
        item = client.get("/history", params={"page_size": 1}, headers=bob_auth).json()["items"][0]
        created_at = datetime.fromisoformat(item["created_at"])
        assert created_at.utcoffset() == timedelta(0)
        assert started - timedelta(seconds=5) <= created_at <= datetime.now(UTC) + timedelta(seconds=5)
        before = (started - timedelta(minutes=1)).astimezone(timezone(timedelta(hours=5, minutes=45)))
        later = (datetime.now(UTC) + timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5)))
        assert history_ids(client, bob_auth, since=before.isoformat())[0] == PER_USER
        assert history_ids(client, bob_auth, since=later.isoformat())[0] == 0
        assert history_ids(client, bob_auth, until=before.isoformat())[0] == 0

        # A NUL character, which PostgreSQL text cannot hold, is a client's mistake and no 500.
        nul_sign_in = client.post("/auth/token", data={"username": "bo\x00b", "password": PASSWORD})
        assert nul_sign_in.status_code in (401, 422), nul_sign_in.text
        assert client.get("/history/ab%00cd", headers=bob_auth).status_code in (404, 422)
        named = client.post("/api-keys", json={"name": "odd\x00name"}, headers=carol_auth)
        assert named.status_code == 201, named.text

        # Revoking the key locks the script out; the token still works.
        key_id = created.json()["id"]
        assert client.delete(f"/api-keys/{key_id}", headers=bob_auth).status_code == 200
        assert client.get("/history", headers=bob_key).status_code == 401
        assert client.get("/history", headers=bob_auth).status_code == 200

        # What the server holds: exactly one row per answer, nothing else.
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(User)) == 3
            assert session.scalar(select(func.count()).select_from(Analysis)) == 2 * PER_USER
            assert session.scalar(select(func.count()).select_from(DetectorResult)) == 2 * PER_USER
            owners = dict(
                session.execute(select(Analysis.user_id, func.count()).group_by(Analysis.user_id)).all()
            )
            assert owners == {bob["id"]: PER_USER, carol["id"]: PER_USER}
            key = session.scalar(select(ApiKey).where(ApiKey.id == key_id))
            assert key is not None and key.last_used_at is not None and key.revoked_at is not None
        database.dispose()

    # A restarted gateway finds the schema current (its migration is a no-op) and every row kept, and
    # the tokens it signed before still work (same secret, same database).
    with (
        running_stack(tmp_path / "again", [detector_entry("latency_probe")], env=env) as stack,
        httpx.Client(base_url=stack.service("gateway").url, timeout=60) as client,
    ):
        assert history_ids(client, bob_auth) == (PER_USER, bob_ids)
        assert detect(client, carol_auth, 7).status_code == 200
        assert history_ids(client, carol_auth)[0] == PER_USER + 1
        assert history_ids(client, alice_auth)[0] == 2 * PER_USER + 1
        database = Database(url)
        try:
            assert current_revision(database.engine) == head
        finally:
            database.dispose()
