"""Client behaviour that needs no gateway: retries and Retry-After, typed errors, configuration precedence."""

from __future__ import annotations

import httpx
import pytest
from tribunal_client import (
    AsyncTribunalClient,
    AuthError,
    BadRequest,
    ConfigError,
    ConnectionFailed,
    RateLimited,
    ServerError,
    TribunalClient,
    Unavailable,
    resolve_config,
)
from tribunal_client.cli import main

ANSWER = {
    "id": "a" * 32,
    "sha256": "0" * 64,
    "media_type": "image",
    "verdict": "fake",
    "score_fake": 0.9,
    "confidence": 0.8,
    "method": "average",
    "threshold": 0.5,
    "attribution": {"predicted_source": "sd", "probs": {"real": 0.1, "sd": 0.9}},
    "detectors": [{"name": "probe", "status": "ok", "prob_fake": 0.9, "something_new": 1}],
    "degraded": False,
    "missing": [],
    "warnings": [],
    "elapsed_ms": 3.0,
    "future_field": True,
}


def scripted(*responses: httpx.Response | Exception):
    """A MockTransport answering each request with the next scripted response (or raising it)."""
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handle, seen


def rate_limited(seconds: str = "2") -> httpx.Response:
    body = {"error": "rate_limited", "detail": "slow down", "retry_after_s": int(seconds)}
    return httpx.Response(429, json=body, headers={"Retry-After": seconds})


def test_retry_honours_retry_after_then_succeeds():
    handle, seen = scripted(rate_limited("2"), rate_limited("7"), httpx.Response(200, json=ANSWER))
    waits: list[float] = []
    client = TribunalClient(
        "http://gw", api_key="k", transport=httpx.MockTransport(handle), sleep=waits.append, retries=3
    )
    answer = client.detect(b"bytes", filename="a.png")
    assert waits == [2.0, 7.0]
    assert len(seen) == 3 and all(r.headers["x-api-key"] == "k" for r in seen)
    assert answer.verdict == "fake" and answer.predicted_source == "sd"
    assert answer.detectors[0].prob_fake == 0.9 and answer.raw["future_field"] is True
    # The whole upload is sent again on each attempt.
    assert all(b'filename="a.png"' in r.content and b"\r\nbytes\r\n" in r.content for r in seen)


def test_retries_are_bounded_and_the_last_error_is_typed():
    handle, seen = scripted(*(rate_limited("1") for _ in range(3)))
    waits: list[float] = []
    client = TribunalClient("http://gw", transport=httpx.MockTransport(handle), sleep=waits.append, retries=2)
    with pytest.raises(RateLimited) as caught:
        client.detect(b"x")
    assert len(seen) == 3 and waits == [1.0, 1.0]
    assert caught.value.retry_after == 1.0 and caught.value.status_code == 429
    assert caught.value.code == "rate_limited"


def test_a_retry_after_beyond_the_cap_is_raised_at_once():
    handle, seen = scripted(rate_limited("3600"))
    client = TribunalClient("http://gw", transport=httpx.MockTransport(handle), sleep=pytest.fail)
    with pytest.raises(RateLimited) as caught:
        client.detect(b"x")
    assert caught.value.retry_after == 3600 and len(seen) == 1


def test_503_and_connection_errors_back_off_exponentially():
    handle, seen = scripted(
        httpx.ConnectError("refused"),
        httpx.Response(503, json={"error": "no_detector_available", "detail": "all down"}),
        httpx.Response(200, json={"items": [], "total": 0, "page": 1, "page_size": 20}),
    )
    waits: list[float] = []
    client = TribunalClient(
        "http://gw", transport=httpx.MockTransport(handle), sleep=waits.append, backoff=0.25
    )
    page = client.history(verdict="fake")
    assert waits == [0.25, 0.5]
    assert page.total == 0 and seen[-1].url.params["verdict"] == "fake"


def test_connection_failure_after_retries_is_connection_failed():
    handle, _ = scripted(*(httpx.ConnectError("refused") for _ in range(2)))
    client = TribunalClient(
        "http://gw", transport=httpx.MockTransport(handle), sleep=lambda s: None, retries=1
    )
    with pytest.raises(ConnectionFailed):
        client.models()


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, BadRequest), (401, AuthError), (403, AuthError), (413, BadRequest), (415, BadRequest),
     (422, BadRequest), (500, ServerError), (502, ServerError)],
)  # fmt: skip
def test_errors_are_typed_from_the_error_body(status, kind):
    body = {"error": "some_code", "detail": "what went wrong", "problems": [{"field": "f", "message": "m"}]}
    handle, seen = scripted(httpx.Response(status, json=body))
    client = TribunalClient("http://gw", transport=httpx.MockTransport(handle), sleep=pytest.fail)
    with pytest.raises(kind) as caught:
        client.detect(b"x")
    assert len(seen) == 1  # never retried
    assert caught.value.code == "some_code" and caught.value.detail == "what went wrong"
    if kind is BadRequest:
        assert caught.value.problems == [{"field": "f", "message": "m"}]


def test_an_unavailable_answer_without_json_still_gives_a_typed_error():
    handle, _ = scripted(httpx.Response(503, text="<html>bad gateway</html>"))
    client = TribunalClient("http://gw", transport=httpx.MockTransport(handle), retries=0)
    with pytest.raises(Unavailable) as caught:
        client.models()
    assert caught.value.status_code == 503 and "bad gateway" in caught.value.detail


async def test_async_client_retries_the_same_way():
    handle, seen = scripted(rate_limited("3"), httpx.Response(200, json=ANSWER))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with AsyncTribunalClient(
        "http://gw", token="tok", transport=httpx.MockTransport(handle), sleep=sleep
    ) as client:
        answer = await client.detect(b"x")
    assert waits == [3.0] and answer.verdict == "fake"
    assert seen[0].headers["authorization"] == "Bearer tok"


def test_precedence_arguments_over_environment_over_file(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('url = "http://from-file:1"\napi_key = "file-key"\nretries = 7\ntimeout = 5\n')
    env = {"TRIBUNAL_URL": "http://from-env:2", "TRIBUNAL_TOKEN": "env-token"}

    only_file = resolve_config(config_path=config, env={})
    assert (only_file.url, only_file.api_key, only_file.retries, only_file.timeout) == (
        "http://from-file:1",
        "file-key",
        7,
        5.0,
    )
    with_env = resolve_config(config_path=config, env=env)
    # The environment's token replaces the file's key whole; the file still gives retries.
    assert (with_env.url, with_env.api_key, with_env.token) == ("http://from-env:2", None, "env-token")
    assert with_env.retries == 7 and with_env.headers() == {"Authorization": "Bearer env-token"}
    with_args = resolve_config(url="http://arg:3/", api_key="arg-key", config_path=config, env=env)
    assert (with_args.url, with_args.api_key, with_args.token) == ("http://arg:3", "arg-key", None)
    assert with_args.headers() == {"X-API-Key": "arg-key"}


def test_default_config_file_and_tribunal_config(tmp_path):
    default = tmp_path / "xdg" / "tribunal" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text('token = "default-file-token"\n')
    other = tmp_path / "other.toml"
    other.write_text('api_key = "other-key"\n')
    assert resolve_config(env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}).token == "default-file-token"
    chosen = resolve_config(env={"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "TRIBUNAL_CONFIG": str(other)})
    assert chosen.api_key == "other-key" and chosen.token is None
    nothing = resolve_config(env={"XDG_CONFIG_HOME": str(tmp_path / "none")})
    assert nothing.url == "http://127.0.0.1:8000" and nothing.headers() == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [("url = [", "not valid TOML"), ('colour = "red"', "unknown key"), ('url = "ftp://x"', "http://")],
)
def test_bad_config_files_are_config_errors(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        resolve_config(config_path=path, env={})


def test_cli_config_errors_exit_2(tmp_path, capsys):
    assert main(["models", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["detect"]) == 2  # no FILE
    assert main(["detect", "x.png", "--fail-on", "sometimes"]) == 2
    assert main(["frobnicate"]) == 2
