"""The accounts use-cases: register, sign in, look users up, and manage API keys. Transport-free."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.auth.api_keys import NewApiKey, generate_api_key, hash_api_key
from gateway.auth.errors import AccountDisabled, InvalidApiKey, UsernameTaken, WrongCredentials
from gateway.auth.identity import Identity, Via
from gateway.auth.passwords import hash_password, verify_password
from gateway.db.models import ApiKey, User
from gateway.errors import NotFound


def normalise_username(username: str) -> str:
    return username.strip().lower()


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def register(session: Session, username: str, password: str, role: str | None = None) -> User:
    """Create an account. With no ``role`` given, the first account ever is the admin, later ones users."""
    user = User(username=normalise_username(username), password_hash=hash_password(password), role="user")
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise UsernameTaken(f"the username {user.username!r} is taken") from exc
    if role is not None:
        user.role = role
    else:
        # Decided after the insert, inside the same transaction: an earlier committed account, or one
        # inserted concurrently and holding the write lock, means this one is not the first.
        earlier = session.scalar(select(func.count()).select_from(User).where(User.id < user.id)) or 0
        user.role = "admin" if earlier == 0 else "user"
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The user whose credentials these are; WrongCredentials otherwise (same answer for both mistakes)."""
    user = find_user(session, username)
    if not verify_password(password, user.password_hash if user else None) or user is None:
        raise WrongCredentials()
    if user.disabled:
        raise AccountDisabled("this account is disabled; ask an administrator")
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == normalise_username(username)))


def identity_of(user: User, via: Via) -> Identity:
    return Identity(user_id=user.id, username=user.username, role=user.role, via=via)


def active_user(session: Session, user_id: int) -> User | None:
    """The user with this id if they still exist and are enabled (tokens outlive deleted accounts)."""
    user = session.get(User, user_id)
    return None if user is None or user.disabled else user


def identity_from_api_key(session: Session, plaintext: str) -> Identity:
    """The owner of a valid, unrevoked key; InvalidApiKey otherwise. Notes when the key was last used."""
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(plaintext)))
    if key is None or key.revoked_at is not None:
        raise InvalidApiKey("the API key is unknown or has been revoked")
    if key.user.disabled:
        raise AccountDisabled("the account owning this API key is disabled")
    key.last_used_at = datetime.now(UTC)
    return identity_of(key.user, "api_key")


def create_api_key(session: Session, user_id: int, name: str) -> tuple[ApiKey, NewApiKey]:
    """A new key for ``user_id``: the row, and the plaintext to show once."""
    new = generate_api_key()
    row = ApiKey(user_id=user_id, name=name.strip(), prefix=new.prefix, key_hash=new.key_hash)
    session.add(row)
    session.flush()
    return row, new


def list_api_keys(session: Session, user_id: int) -> list[ApiKey]:
    return list(
        session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc()))
    )


def revoke_api_key(session: Session, user_id: int, key_id: int) -> ApiKey:
    """Revoke one of the user's own keys (someone else's key id is "not found")."""
    key = session.get(ApiKey, key_id)
    if key is None or key.user_id != user_id:
        raise NotFound(f"no API key {key_id} among yours")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
    return key
