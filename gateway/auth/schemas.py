"""Request and answer bodies of /auth, /users and /api-keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$"


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(
        pattern=USERNAME_PATTERN,
        description="3-32 letters, digits, '_', '.' or '-'; case-insensitive",
    )
    # The upper bound keeps one request from tying a worker up in hashing megabytes.
    password: str = Field(min_length=8, max_length=256)


class SignInForm(BaseModel):
    """``POST /auth/token``: the OAuth2 password flow's form fields, bounded like the accounts they name."""

    model_config = ConfigDict(str_strip_whitespace=True)

    username: str = Field(pattern=USERNAME_PATTERN, description="case-insensitive")
    password: str = Field(min_length=1, max_length=256)
    grant_type: Literal["password"] | None = Field(None, description="OAuth2: 'password' when sent")
    scope: str = Field("", max_length=1000, description="OAuth2 scopes; not used")


class NewUserRequest(RegisterRequest):
    """An admin adding an account: the same fields, plus its role."""

    role: Literal["admin", "user"] = "user"


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: Literal["admin", "user"]
    created_at: datetime


class TokenOut(BaseModel):
    """The OAuth2 token answer, plus a refresh token for POST /auth/refresh."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=4096)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="what the key is for, e.g. 'nightly batch'")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="the key's first characters, to recognise it")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the key itself: shown this once, never again")


class AuthConfigOut(BaseModel):
    """What the dashboard needs to know before anyone signs in."""

    auth_required: bool
    registration_open: bool
