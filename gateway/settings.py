"""Gateway settings: field defaults, overlaid by config/gateway.yaml, overlaid by ``TRIBUNAL_*`` env vars.

Precedence, highest first: keyword arguments, environment (``TRIBUNAL_PORT=9000``), the YAML file,
the defaults below. The YAML file is ``config/gateway.yaml`` unless ``TRIBUNAL_CONFIG_FILE`` names
another. Relative paths in the settings are resolved against the repository root, not the working
directory, so ``python -m gateway`` behaves the same wherever it is started.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.attribution import DEFAULT_MIN_SHARE
from gateway.video.settings import ENV_NAMES as VIDEO_ENV_NAMES
from gateway.video.settings import VideoSettings, values_from_environment
from tribunal_home import REPO_ROOT
from tribunal_sdk.errors import TribunalError
from tribunal_sdk.media import MediaLimits

ENV_PREFIX = "TRIBUNAL_"
CONFIG_FILE_ENV = "TRIBUNAL_CONFIG_FILE"
DEFAULT_CONFIG_FILE = REPO_ROOT / "config" / "gateway.yaml"


class SettingsError(TribunalError, ValueError):
    """The settings file or a TRIBUNAL_* variable is invalid; the message names the field and its source."""

    code = "invalid_settings"


class GatewaySettings(BaseSettings):
    """Everything the gateway can be configured with."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    registry_path: Path = Path("config/detectors.yaml")
    data_dir: Path = Path("var")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Upload caps: a bigger upload or image is refused with 413 before any detector sees it.
    max_upload_mb: float = Field(50.0, gt=0, le=4096)
    max_pixels: int = Field(40_000_000, gt=0)
    # Videos: their caps and the keyframes the image detectors see, the `video:` section of the file.
    # Its environment variables keep their flat names (TRIBUNAL_VIDEO_KEYFRAMES; gateway/video/settings.py).
    video: VideoSettings = Field(default_factory=VideoSettings)

    # Fusion. The verdict is "uncertain" when the fused score lies within threshold ± uncertainty_band.
    # Stacking uses the deployed meta-learner for the media type (make retrain) and averages, saying so in
    # the answer's `method`, when none is deployed (e.g. video until it has a benchmark).
    default_method: str = "average"
    threshold: float = Field(0.5, gt=0, lt=1)
    uncertainty_band: float = Field(0.1, ge=0, lt=0.5)
    # Attribution names a generator family only when it holds at least this share of the fake score;
    # below it the source is "unknown_ai" (AI-made, family unknown). See gateway/attribution.py.
    attribution_min_share: float = Field(DEFAULT_MIN_SHARE, ge=0, le=1)
    # Deployed stacking meta-learners (make retrain): <dir>/<media_type>/deployed.json names the version.
    meta_learner_dir: Path = Path("meta_learner/artifacts")

    # Circuit breaker: open after this many consecutive errors, at once on a timeout; a background /ready
    # probe closes it. The cooldown caps the pause between probes of a detector that is ready but failing.
    breaker_failures: int = Field(3, ge=1)
    breaker_cooldown_s: float = Field(10.0, gt=0)

    # /models and /ready probe detectors; their answers are reused for this long.
    models_cache_s: float = Field(5.0, ge=0)
    probe_timeout_s: float = Field(2.0, gt=0)

    # Connection pool of the shared HTTP client (every detector call of every request goes through it).
    max_connections: int = Field(512, ge=1)

    # Accounts. Detection, history, stats and /models need a bearer token or an X-API-Key unless
    # auth_required is false (a trusted network). database_url defaults to SQLite in data_dir.
    auth_required: bool = True
    database_url: str | None = None
    # From the environment only in practice (TRIBUNAL_JWT_SECRET). Unset with SQLite: a random secret
    # is generated once into data_dir. A placeholder value is refused unless dev_mode is on.
    jwt_secret: SecretStr | None = None
    dev_mode: bool = False
    access_token_minutes: float = Field(30.0, gt=0)
    refresh_token_days: float = Field(7.0, gt=0)
    registration_open: bool = True  # the first account can always register (it becomes the admin)

    # Per-user limits (0 turns one off); over the limit is a 429 with Retry-After.
    detect_per_minute: int = Field(30, ge=0)
    # Against password guessing, every sign-in attempt counts twice: against the client address (also
    # sign-ups and refreshes) and against the account named, from whatever address it comes.
    login_attempts_per_minute: int = Field(10, ge=0)
    login_attempts_per_account_per_minute: int = Field(5, ge=0)

    # Reverse proxies (IPs or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are believed. None by
    # default: the client address is the TCP peer, and any client could write those headers itself.
    # TRIBUNAL_TRUSTED_PROXIES takes a comma list ("10.0.0.5, 10.1.0.0/16") or a JSON list.
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)

    # History: every analysis is recorded; the uploaded file itself only when keep_uploads is true.
    keep_uploads: bool = False
    # Rows are written in group commits (gateway/history/recorder.py): each answer waits for the
    # transaction carrying its row, and one transaction carries at most this many rows.
    history_batch_rows: int = Field(256, ge=1, le=10_000)
    # Retention, off unless set: rows older than max_age_days, and the oldest rows beyond max_rows, are
    # deleted (with their kept files) at start-up and every history_cleanup_interval_s after.
    history_max_age_days: float | None = Field(None, gt=0)
    history_max_rows: int | None = Field(None, ge=1)
    history_cleanup_interval_s: float = Field(600.0, gt=0)

    # Batch jobs (POST /jobs, docs/jobs.md). At most jobs_concurrency items are analysed at once; an item
    # starts only after interactive /detect and /predict calls have been quiet for jobs_quiet_s, but never
    # waits longer than jobs_max_yield_s for that (so a job still moves under steady interactive load).
    jobs_concurrency: int = Field(2, ge=1, le=64)
    jobs_quiet_s: float = Field(0.5, ge=0)
    jobs_max_yield_s: float = Field(5.0, ge=0)
    # An item whose detection answers 503 (no detector available, memory budget) is tried this many
    # more times, with growing pauses, before it fails.
    jobs_item_retries: int = Field(3, ge=0, le=20)
    # One POST /jobs (or POST /jobs?add_to=<id>) body; the upload is held in memory while it is read.
    jobs_max_upload_mb: float = Field(512.0, gt=0, le=16384)
    # Archives are hostile input: caps on their members, their unpacked size (counted while unpacking,
    # never read from headers) and on how much bigger than its compressed form a member may grow.
    jobs_max_files: int = Field(10_000, ge=1, le=1_000_000)
    jobs_max_unpacked_mb: float = Field(4096.0, gt=0)
    jobs_max_compression_ratio: float = Field(100.0, ge=1)
    # Who runs the items (gateway/jobs/engines.py): "embedded" in this gateway process (make start), or
    # "procrastinate": this gateway only enqueues, and `python -m gateway.jobs.worker` processes run them,
    # with the PostgreSQL database_url as the broker (docs/deployment.md, "Batch jobs on workers").
    jobs_engine: str = "embedded"
    # Workers only: how often a worker says it is alive, and after how long without that its items are
    # handed to another worker (a worker killed mid-item loses nothing; it only delays that item).
    jobs_worker_heartbeat_s: float = Field(10.0, gt=0)
    jobs_worker_stalled_s: float = Field(30.0, gt=0)

    # The built dashboard (npm run build in frontend/), served at /.
    frontend_dir: Path = Path("frontend/dist")

    # Drift (gateway/drift.py, docs/operations.md): per image detector and per fusion, the last drift_window
    # scores are compared with the training distribution by PSI over drift_bins quantile bins; no verdict
    # before drift_min_window scores, "drifted" at PSI >= drift_threshold. The reference comes with the
    # deployed meta-learner (make retrain), else from drift_detectors_dir/<package>/weights/oof_answers.json.
    drift_window: int = Field(500, ge=10, le=100_000)
    drift_min_window: int = Field(200, ge=10)
    drift_threshold: float = Field(0.25, gt=0)
    drift_bins: int = Field(10, ge=2, le=50)
    drift_detectors_dir: Path = Path("detectors")

    @field_validator("registry_path", "data_dir", "frontend_dir", "meta_learner_dir", "drift_detectors_dir")
    @classmethod
    def _from_repo_root(cls, value: Path) -> Path:
        return value if value.is_absolute() else REPO_ROOT / value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("default_method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from gateway.fusion import strategy_names  # fusion imports nothing from settings; no cycle

        if value not in strategy_names():
            raise ValueError(f"unknown fusion method {value!r}; known: {', '.join(strategy_names())}")
        return value

    @field_validator("jobs_engine")
    @classmethod
    def _known_jobs_engine(cls, value: str) -> str:
        from gateway.jobs.engines import engine_names  # imports nothing from settings at module level

        if value not in engine_names():
            raise ValueError(f"unknown jobs engine {value!r}; known: {', '.join(engine_names())}")
        return value

    @model_validator(mode="after")
    def _broker_engine_has_its_broker(self) -> GatewaySettings:
        from gateway.jobs.engines import needs_postgresql

        if needs_postgresql(self.jobs_engine) and not (self.database_url or "").startswith("postgresql"):
            raise ValueError(
                f"jobs_engine {self.jobs_engine!r} queues on PostgreSQL: set database_url "
                "(TRIBUNAL_DATABASE_URL=postgresql+psycopg://...), the database the gateways and workers share"
            )
        if self.jobs_worker_stalled_s < 2 * self.jobs_worker_heartbeat_s:
            raise ValueError(
                f"jobs_worker_stalled_s ({self.jobs_worker_stalled_s:g}) must be at least twice "
                f"jobs_worker_heartbeat_s ({self.jobs_worker_heartbeat_s:g}): a live worker would look stalled"
            )
        return self

    @model_validator(mode="after")
    def _band_inside_unit_interval(self) -> GatewaySettings:
        if self.threshold - self.uncertainty_band < 0 or self.threshold + self.uncertainty_band > 1:
            raise ValueError(
                f"threshold ± uncertainty_band must stay within [0, 1] "
                f"(threshold={self.threshold}, uncertainty_band={self.uncertainty_band})"
            )
        return self

    @model_validator(mode="after")
    def _drift_window_holds_a_verdict(self) -> GatewaySettings:
        if self.drift_min_window > self.drift_window:
            raise ValueError(
                f"drift_min_window ({self.drift_min_window}) cannot exceed drift_window ({self.drift_window}): "
                "no window would ever hold enough scores for a verdict"
            )
        return self

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def database_url_or_default(self) -> str:
        """The accounts and history database: TRIBUNAL_DATABASE_URL, else a SQLite file in data_dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'tribunal.db'}"

    @property
    def media_limits(self) -> MediaLimits:
        return MediaLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _VideoEnvSource(settings_cls),
            _YamlFileSource(settings_cls, config_file_path()),
        )


def config_file_path() -> Path:
    """The YAML settings file in use: ``$TRIBUNAL_CONFIG_FILE`` or config/gateway.yaml."""
    named = os.environ.get(CONFIG_FILE_ENV)
    return Path(named) if named else DEFAULT_CONFIG_FILE


def read_config_file(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path``; an absent default file means no overlay."""
    if not path.exists():
        if path == DEFAULT_CONFIG_FILE:
            return {}
        raise SettingsError(f"{path}: settings file not found (named by {CONFIG_FILE_ENV})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SettingsError(
            f"{path}: expected a mapping of setting names to values, got {type(raw).__name__}"
        )
    return raw


class _YamlFileSource(PydanticBaseSettingsSource):
    """Settings from the YAML file, below the environment in precedence."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path):
        super().__init__(settings_cls)
        self.path = path
        self.data = read_config_file(path)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        # Unknown keys are passed through so extra="forbid" reports them by name.
        return dict(self.data)


class _VideoEnvSource(PydanticBaseSettingsSource):
    """The ``video:`` section's flat environment variables (``TRIBUNAL_VIDEO_KEYFRAMES`` ...), below the
    other variables and above the file; merged key by key with the section in the file."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values = values_from_environment(os.environ)
        return {"video": values} if values else {}


def _environment_variable(loc: tuple[Any, ...]) -> str | None:
    """The TRIBUNAL_* variable that set the setting at ``loc``, when one did."""
    names = [ENV_PREFIX + str(loc[0]).upper()] if loc else []
    if len(loc) > 1 and loc[0] == "video" and loc[1] in VIDEO_ENV_NAMES:
        names.insert(0, VIDEO_ENV_NAMES[loc[1]])
    return next((name for name in names if os.environ.get(name) is not None), None)


def load_settings(**overrides: Any) -> GatewaySettings:
    """Build the settings, turning a validation failure into a SettingsError naming field and source.

    e.g. ``config/gateway.yaml: threshold: Input should be less than 1 (got 1.5)``.
    """
    path = config_file_path()
    try:
        return GatewaySettings(**overrides)
    except ValidationError as exc:
        file_keys = set(read_config_file(path))
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            top = str(error["loc"][0]) if error["loc"] else ""
            if top in overrides:
                source = "argument"
            elif (variable := _environment_variable(error["loc"])) is not None:
                source = f"environment {variable}"
            elif top in file_keys:
                source = str(path)
            else:
                source = "settings"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown setting (check its spelling)"
            elif "input" in error and error["type"] != "value_error":
                message += f" (got {error['input']!r})"
            lines.append(f"{source}: {field}: {message}" if field else f"{source}: {message}")
        raise SettingsError("\n".join(lines)) from exc
