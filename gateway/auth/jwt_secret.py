"""Where the JWT signing secret comes from, and the refusal of placeholder secrets.

1. ``TRIBUNAL_JWT_SECRET`` (or ``jwt_secret`` in the settings) when set. A placeholder such as
   "change-me", or anything shorter than 32 characters, is refused unless dev mode is on.
2. Otherwise, in local mode (the SQLite database), a random secret generated once and kept in
   ``<data_dir>/jwt_secret`` (mode 0600), so tokens survive restarts.
3. Otherwise (an external database, so possibly several gateways sharing it) the environment must
   give the secret: every replica has to sign with the same one.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from gateway.db.engine import is_sqlite
from gateway.settings import GatewaySettings, SettingsError

log = logging.getLogger("gateway.auth")

SECRET_FILE_NAME = "jwt_secret"
MIN_SECRET_LENGTH = 32
_PLACEHOLDERS = {
    "changeme",
    "change-me",
    "change_me",
    "changethis",
    "secret",
    "jwt-secret",
    "jwt_secret",
    "supersecret",
    "super-secret",
    "your-secret-key",
    "your_secret_key",
    "secret-key",
    "secretkey",
    "password",
    "dev",
    "test",
    "default",
}


class InsecureSecret(SettingsError):
    """The configured JWT secret is a placeholder or too weak to sign tokens outside dev mode."""

    code = "insecure_secret"


def placeholder_reason(secret: str) -> str | None:
    """Why ``secret`` is not fit to sign tokens, or None when it is."""
    lowered = secret.strip().lower()
    if lowered in _PLACEHOLDERS or ("change" in lowered and "me" in lowered):
        return "it is a well-known placeholder"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"it is {len(secret)} characters long; at least {MIN_SECRET_LENGTH} are needed"
    if len(set(secret)) < 10:
        return "it repeats too few distinct characters to be random"
    return None


def resolve_jwt_secret(settings: GatewaySettings) -> str:
    """The secret to sign tokens with; InsecureSecret/SettingsError when none can be used safely."""
    configured = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    if configured:
        reason = placeholder_reason(configured)
        if reason is None:
            return configured
        if settings.dev_mode:
            log.warning("using a weak JWT secret (%s); allowed only because dev mode is on", reason)
            return configured
        raise InsecureSecret(
            f"TRIBUNAL_JWT_SECRET is refused: {reason}. Generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`, or unset it to let the "
            "gateway keep a random one in its data directory (local SQLite mode only)."
        )
    url = settings.database_url_or_default
    if not is_sqlite(url):
        raise SettingsError(
            "TRIBUNAL_JWT_SECRET must be set when the database is not the local SQLite file: gateways "
            "sharing a database must sign tokens with the same secret."
        )
    return _local_secret(settings.data_dir / SECRET_FILE_NAME)


def _local_secret(path: Path) -> str:
    """Read the generated secret, or create it once with owner-only permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written aside, then linked into place: link fails if the file exists, so when two gateways
        # start at once exactly one secret wins and nobody ever reads a half-written file.
        candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(candidate, path)
            log.info("generated a new JWT secret in %s", path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); restricting it to 0600", path, mode)
        path.chmod(0o600)
    secret = path.read_text().strip()
    if placeholder_reason(secret) is not None:
        raise InsecureSecret(f"{path} does not hold a usable secret; delete it to generate a new one")
    return secret
