"""Where the client's settings come from.

Precedence, highest first, for every setting:

1. arguments (``TribunalClient(url=..., api_key=...)``, or the command's ``--url``/``--api-key``/``--token``);
2. the environment: ``TRIBUNAL_URL``, ``TRIBUNAL_API_KEY``, ``TRIBUNAL_TOKEN``, ``TRIBUNAL_RETRIES``,
   ``TRIBUNAL_TIMEOUT``;
3. a TOML config file: the explicit path (``config_path=`` / ``--config`` / ``TRIBUNAL_CONFIG``), which
   must exist, else ``$XDG_CONFIG_HOME/tribunal/config.toml`` (``~/.config/tribunal/config.toml``),
   read when present;
4. defaults: ``http://127.0.0.1:8000``, no credential, 3 retries, 60 s timeout.

The credential is taken whole from the highest level that gives one (``api_key`` or ``token``), so an
environment token never mixes with a key from the file. When one level gives both, the API key is sent.

A config file::

    url = "https://tribunal.example.org"
    api_key = "trb_..."        # or: token = "eyJ..."
    retries = 5
    timeout = 120
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tribunal_client.errors import ConfigError

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_RETRIES = 3
DEFAULT_TIMEOUT_S = 60.0

ENV = {
    "url": "TRIBUNAL_URL",
    "api_key": "TRIBUNAL_API_KEY",
    "token": "TRIBUNAL_TOKEN",
    "retries": "TRIBUNAL_RETRIES",
    "timeout": "TRIBUNAL_TIMEOUT",
}
CONFIG_ENV = "TRIBUNAL_CONFIG"
KEYS = frozenset(ENV)


@dataclass(frozen=True)
class ClientConfig:
    url: str = DEFAULT_URL
    api_key: str | None = None
    token: str | None = None
    retries: int = DEFAULT_RETRIES
    timeout: float = DEFAULT_TIMEOUT_S
    source: str = "defaults"  # where the credential came from: "arguments", "environment", a file, "none"

    def headers(self) -> dict[str, str]:
        if self.api_key:
            return {"X-API-Key": self.api_key}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "tribunal" / "config.toml"


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KEYS))}"
        )
    return data


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value not in (None, "")}


def resolve_config(
    *,
    url: str | None = None,
    api_key: str | None = None,
    token: str | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Merge arguments, environment, config file and defaults (see the module docstring)."""
    env = os.environ if env is None else env
    explicit = config_path or env.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        file_values, file_name = read_config_file(path), str(path)
    else:
        path = default_config_path(env)
        file_values, file_name = (read_config_file(path), str(path)) if path.is_file() else ({}, "")
    levels: list[tuple[str, dict[str, Any]]] = [
        (
            "arguments",
            _clean({"url": url, "api_key": api_key, "token": token, "retries": retries, "timeout": timeout}),
        ),
        ("environment", _clean({key: env.get(name) for key, name in ENV.items()})),
        (file_name, _clean(file_values)),
    ]

    def first(key: str) -> Any:
        return next((values[key] for _, values in levels if key in values), None)

    credential: dict[str, Any] = {}
    source = "none"
    for name, values in levels:
        if "api_key" in values or "token" in values:
            credential = {"api_key": values.get("api_key"), "token": values.get("token")}
            source = name
            break
    try:
        retries_value = int(first("retries") if first("retries") is not None else DEFAULT_RETRIES)
        timeout_value = float(first("timeout") if first("timeout") is not None else DEFAULT_TIMEOUT_S)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"retries must be an integer and timeout a number: {exc}") from None
    if retries_value < 0 or timeout_value <= 0:
        raise ConfigError("retries must be 0 or more and timeout above 0")
    base = str(first("url") or DEFAULT_URL).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"the gateway URL must start with http:// or https://, not {base!r}")
    for key in ("api_key", "token"):
        if credential.get(key) is not None and not isinstance(credential[key], str):
            raise ConfigError(f"{key} must be a string")
    return ClientConfig(
        url=base,
        api_key=credential.get("api_key"),
        token=credential.get("token"),
        retries=retries_value,
        timeout=timeout_value,
        source=source,
    )
