"""The OpenAPI description declares the error body the gateway really sends, for each status it sends."""

from __future__ import annotations

import json

import pytest

from support.accounts import PASSWORD, sign_up

ERROR_SCHEMAS = {"#/components/schemas/ErrorBody", "#/components/schemas/RateLimitedBody"}
OPEN = {"/health", "/ready", "/metrics", "/auth/config", "/auth/register", "/auth/token", "/auth/refresh"}


@pytest.fixture
async def description(auth_gateway):
    async with auth_gateway() as client:
        response = await client.get("/openapi.json")
        assert response.status_code == 200
        yield response.json()


def operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", path, operation


async def test_fastapis_default_validation_error_is_gone(description):
    text = json.dumps(description)
    assert "HTTPValidationError" not in text and '"ValidationError"' not in text
    body = description["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["error", "detail"]
    assert body["properties"]["detail"]["type"] == "string"  # a sentence, not FastAPI's list
    assert "problems" in body["properties"]


async def test_every_error_status_of_every_operation_has_the_error_body(description):
    for label, _, operation in operations(description):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema.get("$ref") in ERROR_SCHEMAS, (label, status, schema)
            if status == "429":
                assert response["headers"]["Retry-After"]["required"] is True, label


async def test_each_operation_declares_the_statuses_its_kind_can_send(description):
    for label, path, operation in operations(description):
        declared = set(operation["responses"])
        takes_input = "requestBody" in operation or operation.get("parameters")
        if takes_input:
            assert "422" in declared, label
        if "requestBody" in operation:
            assert {"400", "413"} <= declared, label
        if path not in OPEN:
            assert {"401", "403"} <= declared, label
        if "{" in path:
            assert "404" in declared, label
    statuses = {label: set(op["responses"]) for label, _, op in operations(description)}
    assert {"400", "401", "403", "413", "415", "422", "429", "503"} <= statuses["POST /detect"]
    assert {"401", "403", "422", "429"} <= statuses["POST /auth/token"]
    assert {"403", "409", "429"} <= statuses["POST /auth/register"]
    assert "503" in statuses["GET /ready"]


def assert_matches(body: dict, schema: dict) -> None:
    """The body's top-level fields have the JSON types the described schema gives them."""
    types = {str: "string", int: "integer", list: "array", dict: "object", bool: "boolean"}
    for name in schema["required"]:
        assert name in body, name
    for name, value in body.items():
        declared = schema["properties"].get(name)
        if declared is None:
            assert schema.get("additionalProperties") is True, name
            continue
        options = {option.get("type") for option in declared.get("anyOf", [declared])}
        assert types[type(value)] in options or (types[type(value)] == "integer" and "number" in options), (
            name,
            declared,
        )


async def test_real_error_answers_match_their_description(auth_gateway):
    async with auth_gateway(login_attempts_per_minute=2) as client:
        schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
        await sign_up(client, "alice")
        malformed = await client.get("/history", params={"page": "0"})  # 401 before any validation
        assert malformed.status_code == 401
        assert_matches(malformed.json(), schemas["ErrorBody"])
        token = (await client.post("/auth/token", data={"username": "alice", "password": PASSWORD})).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        malformed = await client.get("/history", params={"page": "0"}, headers=headers)
        assert malformed.status_code == 422
        assert_matches(malformed.json(), schemas["ErrorBody"])
        assert_matches(malformed.json()["problems"][0], schemas["Problem"])
        limited = await client.post("/auth/token", data={"username": "alice", "password": PASSWORD})
        assert limited.status_code == 429
        assert_matches(limited.json(), schemas["RateLimitedBody"])
