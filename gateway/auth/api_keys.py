"""API keys for scripts: random, shown once, stored as a sha256 (they carry enough entropy that a slow
password hash would only cost time on every request)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "trb_"
HEADER = "X-API-Key"


@dataclass(frozen=True)
class NewApiKey:
    plaintext: str  # given to the user once, never stored
    prefix: str  # stored and shown in lists so the owner can tell keys apart
    key_hash: str


def generate_api_key() -> NewApiKey:
    """A fresh key: ``trb_`` + 43 url-safe characters (256 random bits)."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewApiKey(plaintext=plaintext, prefix=plaintext[:12], key_hash=hash_api_key(plaintext))


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()
