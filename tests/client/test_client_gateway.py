"""The client and the ``tribunal`` command against the real gateway (auth on, latency_probe detector)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from tribunal_client import AsyncTribunalClient, AuthError, TribunalClient
from tribunal_client.cli import main

pytestmark = pytest.mark.integration


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_detect_one_and_several_files_with_the_client(gateway, images):
    with TribunalClient(gateway.url, api_key=gateway.api_key) as client:
        white = client.detect(images.white)
        assert white.verdict == "fake" and white.score_fake == pytest.approx(1.0)
        assert white.media_type == "image" and len(white.sha256) == 64
        assert [d.name for d in white.detectors] == ["latency_probe"]
        assert white.detectors[0].status == "ok"
        verdicts = [client.detect(path).verdict for path in (images.black, images.grey)]
        assert verdicts == ["real", "uncertain"]
        page = client.history(page_size=2, verdict="real")
        assert page.total >= 1 and all(item.verdict == "real" for item in page.items)
        assert page.items[0].filename == "black.png" and page.items[0].username == "alice"
        models = client.models()
        assert [m.name for m in models.detectors] == ["latency_probe"] and models.detectors[0].ready
        assert "average" in models.ensemble_methods


async def test_async_client_signs_in_and_detects(gateway, images):
    async with AsyncTribunalClient(gateway.url) as client:
        await client.sign_in(gateway.username, gateway.password)
        answer = await client.detect(images.black.read_bytes(), filename="b.png")
        assert answer.verdict == "real"
        assert (await client.history(page_size=1)).items[0].filename == "b.png"


def test_a_bad_key_is_an_auth_error(gateway, images):
    with (
        TribunalClient(gateway.url, api_key="trb_not_a_real_key") as client,
        pytest.raises(AuthError) as caught,
    ):
        client.detect(images.white)
    assert caught.value.status_code == 401 and caught.value.detail
    code, out, err = run(["detect", str(images.white), "--url", gateway.url, "--api-key", "trb_nope"])
    assert code == 3 and "401" in err and "ERROR" in out


def test_cli_table_json_and_csv(gateway, images, monkeypatch):
    monkeypatch.setenv("TRIBUNAL_URL", gateway.url)
    monkeypatch.setenv("TRIBUNAL_API_KEY", gateway.api_key)
    files = [str(images.white), str(images.black), str(images.grey)]

    code, out, err = run(["detect", *files])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["FILE", "VERDICT", "SCORE_FAKE"]
    assert [line.split()[1] for line in lines[1:]] == ["fake", "real", "uncertain"]

    code, out, _ = run(["detect", "--json", *files])
    documents = json.loads(out)
    assert code == 0 and [d["file"] for d in documents] == files
    assert [d["verdict"] for d in documents] == ["fake", "real", "uncertain"]
    assert documents[0]["detectors"][0]["name"] == "latency_probe"

    code, out, _ = run(["detect", "--csv", *files])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["verdict"] for r in rows] == ["fake", "real", "uncertain"]
    assert float(rows[0]["score_fake"]) == pytest.approx(1.0) and len(rows[0]["id"]) == 32
    assert rows[0]["error"] == ""


def test_cli_reports_a_bad_file_and_carries_on(gateway, images, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    argv = ["--url", gateway.url, "--api-key", gateway.api_key]
    files = [str(broken), str(tmp_path / "missing.png"), str(images.black)]
    code, out, err = run(["detect", "--csv", *files, *argv])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 3
    assert [r["verdict"] for r in rows] == ["ERROR", "ERROR", "real"]
    assert rows[0]["error"].startswith("400") or rows[0]["error"].startswith("415")
    assert "no such file" in rows[1]["error"]
    assert "broken.png" in err and "missing.png" in err


@pytest.mark.parametrize(
    ("file", "fail_on", "expected"),
    [
        ("white", "fake", 1),
        ("grey", "fake", 0),
        ("grey", "uncertain", 1),
        ("black", "uncertain", 0),
        ("white", None, 0),
    ],
)
def test_fail_on_exit_codes(gateway, images, file, fail_on, expected):
    argv = ["detect", str(getattr(images, file)), "--url", gateway.url, "--api-key", gateway.api_key]
    if fail_on:
        argv += ["--fail-on", fail_on]
    assert run(argv)[0] == expected


def test_cli_history_and_models(gateway, images, tmp_path):
    config = tmp_path / "tribunal.toml"
    config.write_text(f'url = "{gateway.url}"\ntoken = "{gateway.token}"\n')
    assert run(["detect", str(images.grey), "--config", str(config)])[0] == 0

    code, out, _ = run(["history", "--config", str(config), "--verdict", "uncertain", "--json"])
    page = json.loads(out)
    assert code == 0 and page["total"] >= 1
    assert {item["verdict"] for item in page["items"]} == {"uncertain"}

    code, out, _ = run(["history", "--config", str(config), "--page-size", "1"])
    assert code == 0 and out.splitlines()[0].split()[:2] == ["ID", "CREATED_AT"]
    assert out.splitlines()[-1].startswith("page 1 of ")

    code, out, _ = run(["history", "--config", str(config), "--page-size", "1000"])
    assert code == 3  # the gateway's 422, reported

    code, out, _ = run(["models", "--config", str(config)])
    assert code == 0 and "latency_probe" in out and "methods:" in out
    code, out, _ = run(["models", "--config", str(config), "--json"])
    assert json.loads(out)["detectors"][0]["name"] == "latency_probe"


def test_environment_overrides_the_config_file(gateway, images, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'url = "{gateway.url}"\napi_key = "trb_wrong"\n')
    env = {**os.environ, "TRIBUNAL_CONFIG": str(config)}
    argv = [sys.executable, "-m", "tribunal_client", "detect", str(images.black)]
    assert subprocess.run(argv, env=env, capture_output=True, timeout=60).returncode == 3
    env["TRIBUNAL_API_KEY"] = gateway.api_key  # the environment beats the file
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "real" in done.stdout
    done = subprocess.run([*argv, "--api-key", "trb_wrong_again"], env=env, capture_output=True, timeout=60)
    assert done.returncode == 3  # and an argument beats the environment
