"""The detector registry (config/detectors.yaml): which detectors exist, where they listen, how to treat them.

This module is the single source of truth for the file's schema. The gateway, the local launcher and
``make add-model`` all import it, so it depends on pydantic and PyYAML only (no FastAPI, no httpx).

    registry = load_registry("config/detectors.yaml")
    for entry in registry.for_media_type("image"):
        print(entry.name, entry.url, entry.timeout_s)
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tribunal_home import REPO_ROOT

MediaType = Literal["image", "video"]
Dependency = Literal["soft", "hard"]

DEFAULT_REGISTRY_PATH = REPO_ROOT / "config" / "detectors.yaml"

_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class RegistryError(ValueError):
    """The registry file is missing, not YAML, or has an invalid entry; the message names the field.

    Outside the TribunalError tree: it stops a start-up or a command, never answers a request, and this
    module stays importable without the SDK's web stack (the launcher and ``make add-model`` read it)."""


class DetectorEntry(BaseModel):
    """One detector service in the registry; the fan-out client (``tribunal_sdk.client``) takes it as is,
    as a ``DetectorEndpoint``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME_PATTERN, description="detector name, unique; also its package by default")
    url: str = Field(description="base URL the gateway calls, e.g. http://127.0.0.1:8101")
    port: int = Field(ge=1, le=65535, description="port the local launcher starts it on")
    media_types: list[MediaType] = Field(min_length=1)
    enabled: bool = True
    timeout_s: float = Field(5.0, gt=0, le=600, description="end-to-end limit for one /predict call")
    weight: float = Field(1.0, gt=0, description="weight in weighted fusion; disable a detector instead of 0")
    dependency: Dependency = "soft"
    gpu: bool = False
    package: str = Field("", description="package under detectors/; defaults to the name")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1].strip("/")) == 0:
            raise ValueError(f"must be an http:// or https:// base URL, got {value!r}")
        # Callers append paths ("/predict"); a trailing slash would give "//predict".
        return value.rstrip("/")

    @field_validator("package")
    @classmethod
    def _package_name(cls, value: str) -> str:
        if value and not re.fullmatch(_NAME_PATTERN, value):
            raise ValueError(f"must be a Python package name like 'my_detector', got {value!r}")
        return value

    @field_validator("media_types")
    @classmethod
    def _no_repeats(cls, value: list[MediaType]) -> list[MediaType]:
        if len(set(value)) != len(value):
            raise ValueError(f"lists a media type twice: {value}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_package(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("package") and isinstance(data.get("name"), str):
            data = {**data, "package": data["name"]}
        return data

    def handles(self, media_type: str) -> bool:
        return media_type in self.media_types


class Registry(BaseModel):
    """The whole registry file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    detectors: list[DetectorEntry]

    @model_validator(mode="after")
    def _unique_names_and_ports(self) -> Registry:
        seen_names: dict[str, int] = {}
        seen_ports: dict[int, int] = {}
        for index, entry in enumerate(self.detectors):
            if entry.name in seen_names:
                raise ValueError(
                    f"detectors[{index}] ({entry.name}).name: duplicate name, "
                    f"also used by detectors[{seen_names[entry.name]}]"
                )
            if entry.port in seen_ports:
                other = seen_ports[entry.port]
                raise ValueError(
                    f"detectors[{index}] ({entry.name}).port: port {entry.port} is already used by "
                    f"detectors[{other}] ({self.detectors[other].name})"
                )
            seen_names[entry.name] = index
            seen_ports[entry.port] = index
        return self

    @property
    def names(self) -> list[str]:
        return [entry.name for entry in self.detectors]

    def get(self, name: str) -> DetectorEntry | None:
        return next((entry for entry in self.detectors if entry.name == name), None)

    def enabled(self) -> list[DetectorEntry]:
        return [entry for entry in self.detectors if entry.enabled]

    def for_media_type(self, media_type: str) -> list[DetectorEntry]:
        """Enabled detectors that handle ``media_type``, in registry order."""
        return [entry for entry in self.enabled() if entry.handles(media_type)]

    def media_types(self) -> list[str]:
        """Media types at least one enabled detector handles."""
        found: list[str] = []
        for entry in self.enabled():
            found.extend(mt for mt in entry.media_types if mt not in found)
        return found


def parse_registry(raw: Any, source: str = "registry") -> Registry:
    """Validate already-parsed YAML/JSON data; ``source`` prefixes error messages."""
    if not isinstance(raw, dict):
        raise RegistryError(f"{source}: expected a mapping with a 'detectors' list, got {type(raw).__name__}")
    try:
        return Registry.model_validate(raw)
    except ValidationError as exc:
        raise RegistryError(_describe(exc, raw, source)) from exc


def load_registry(path: str | Path = DEFAULT_REGISTRY_PATH) -> Registry:
    """Read and validate the registry file.

    Raises RegistryError naming the file, the entry and the field, e.g.
    ``config/detectors.yaml: detectors[1] (latency_probe).timeout_s: Input should be greater than 0 (got -1)``.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise RegistryError(f"{path}: registry file not found") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML: {exc}") from exc
    return parse_registry(raw, str(path))


def _describe(exc: ValidationError, raw: dict[str, Any], source: str) -> str:
    """One line per problem, naming the entry by index and name so a person can find it in the file."""
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "detectors" and isinstance(loc[1], int):
            index = loc[1]
            where = f"detectors[{index}]"
            entries = raw.get("detectors")
            if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
                name = entries[index].get("name")
                if name is not None:
                    where += f" ({name})"
            rest = loc[2:]
        else:
            rest = loc
        field = ".".join(str(part) for part in rest)
        where = ".".join(part for part in (where, field) if part)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (check its spelling)"
        elif error["type"] != "value_error" and "input" in error and not isinstance(error["input"], dict):
            message += f" (got {error['input']!r})"
        lines.append(f"{source}: {where}: {message}" if where else f"{source}: {message}")
    return "\n".join(lines)


# The local launcher's supervision report ---------------------------------------------------------
# `make start` restarts the detectors and the gateway when they die or hang (scripts/launcher_supervisor.py)
# and writes what it did to one small JSON file, replaced atomically on every change. The gateway it
# starts gets that file's path in TRIBUNAL_SUPERVISION_FILE and shows the restart counts in GET /models.
# The schema lives here because both sides already import this module.

SUPERVISION_FILE_ENV = "TRIBUNAL_SUPERVISION_FILE"
SupervisedState = Literal["running", "backing_off", "gave_up"]


class SupervisionReportError(ValueError):
    """The supervision report exists but is not valid JSON of the expected shape (outside the
    TribunalError tree for the reason RegistryError is)."""


class SupervisedService(BaseModel):
    """What the launcher knows about one process it supervises."""

    model_config = ConfigDict(extra="forbid")

    state: SupervisedState = "running"
    restarts: int = Field(0, ge=0, description="times the launcher started it again")
    pid: int | None = None
    last_failure: str | None = Field(None, description="e.g. 'exited with code -9'")
    last_failure_at: datetime | None = None


class SupervisionReport(BaseModel):
    """The launcher's report: one entry per supervised process, keyed by name (``gateway`` included)."""

    model_config = ConfigDict(extra="forbid")

    launcher_pid: int
    updated_at: datetime
    services: dict[str, SupervisedService]


def supervision_file() -> Path | None:
    """The report file named by the launcher that started this process, if any."""
    named = os.environ.get(SUPERVISION_FILE_ENV)
    return Path(named) if named else None


def read_supervision_report(path: Path | None) -> SupervisionReport | None:
    """The report at ``path``; None when there is no path or no file (not started by `make start`)."""
    if path is None:
        return None
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return SupervisionReport.model_validate_json(text)
    except ValidationError as exc:
        raise SupervisionReportError(f"{path}: not a valid supervision report: {exc}") from exc
