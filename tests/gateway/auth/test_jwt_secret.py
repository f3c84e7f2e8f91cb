"""Where the signing secret comes from, and the refusal to start with a placeholder."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from gateway.app import create_app
from gateway.auth.jwt_secret import InsecureSecret, placeholder_reason, resolve_jwt_secret
from gateway.registry import REPO_ROOT
from gateway.settings import SettingsError

STRONG = "Zq8vN3xK1pLr7TgW2mYc9HdJ4sFb6QeA0uVi5RoE"


@pytest.mark.parametrize(
    "secret", ["change-me", "CHANGEME", "secret", "your-secret-key", "short-but-random-9f3k", "a" * 40]
)
def test_placeholders_and_weak_secrets_are_recognised(secret):
    assert placeholder_reason(secret) is not None


def test_a_long_random_secret_is_accepted():
    assert placeholder_reason(STRONG) is None


@pytest.mark.parametrize("secret", ["change-me", "secret", "tooshort"])
def test_the_app_refuses_a_placeholder_secret_outside_dev_mode(gw, tmp_path, secret):
    settings = gw.settings(data_dir=tmp_path, jwt_secret=secret)
    with pytest.raises(InsecureSecret, match="TRIBUNAL_JWT_SECRET is refused"):
        create_app(settings, gw.registry("a"))


def test_dev_mode_allows_a_placeholder(gw, tmp_path):
    app = create_app(gw.settings(data_dir=tmp_path, jwt_secret="change-me", dev_mode=True), gw.registry("a"))
    assert app.state.gateway.tokens.issue(1, "access")
    app.state.gateway.db.dispose()


def test_a_strong_configured_secret_is_used_and_nothing_is_written(gw, tmp_path):
    assert resolve_jwt_secret(gw.settings(data_dir=tmp_path, jwt_secret=STRONG)) == STRONG
    assert not (tmp_path / "jwt_secret").exists()


def test_without_a_secret_local_mode_generates_one_once_with_owner_only_permissions(gw, tmp_path):
    settings = gw.settings(data_dir=tmp_path)
    first = resolve_jwt_secret(settings)
    path = tmp_path / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert placeholder_reason(first) is None
    assert resolve_jwt_secret(settings) == first  # kept: tokens survive a restart
    path.chmod(0o644)
    assert resolve_jwt_secret(settings) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_external_database_needs_the_secret_from_the_environment(gw, tmp_path):
    settings = gw.settings(data_dir=tmp_path, database_url="postgresql+psycopg://db.internal/tribunal")
    with pytest.raises(SettingsError, match="TRIBUNAL_JWT_SECRET must be set"):
        resolve_jwt_secret(settings)


def test_the_gateway_process_refuses_to_start_with_a_placeholder(tmp_path):
    env = {
        **os.environ,
        "TRIBUNAL_JWT_SECRET": "change-me",
        "TRIBUNAL_DATA_DIR": str(tmp_path),
        "TRIBUNAL_DEV_MODE": "false",
        "TRIBUNAL_PORT": "1",  # never reached: it must stop before serving
    }
    done = subprocess.run(
        [sys.executable, "-m", "gateway"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "TRIBUNAL_JWT_SECRET is refused" in done.stderr
