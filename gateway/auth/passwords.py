"""Password hashing with argon2 (through passlib). Never bcrypt: passlib 1.7.4 breaks with bcrypt 5."""

from __future__ import annotations

from passlib.context import CryptContext

_context = CryptContext(schemes=["argon2"], deprecated="auto")
# Verified against when the username does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _context.hash("tribunal-timing-equaliser")


def hash_password(password: str) -> str:
    return _context.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches; with no hash (unknown user) it still spends the hashing time."""
    if password_hash is None:
        _context.verify(password, _DUMMY_HASH)
        return False
    try:
        return _context.verify(password, password_hash)
    except (ValueError, TypeError):  # a malformed stored hash is a mismatch, not a crash
        return False
