"""Typed errors of accounts, identities and limits; each becomes ``{"error", "detail"}`` with its status."""

from __future__ import annotations

from typing import Literal

from gateway.errors import GatewayError, RateLimited

# RFC 6750: a 401 tells the client which scheme to use.
_BEARER = {"WWW-Authenticate": "Bearer"}


class NotAuthenticated(GatewayError):
    """No identity was sent where one is required."""

    status_code = 401
    code = "not_authenticated"

    def __init__(self, detail: str = "sign in: send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'"):
        super().__init__(detail, headers=_BEARER)


class InvalidToken(GatewayError):
    """A bearer token that is malformed, signed with another key, of the wrong type, or tampered with."""

    status_code = 401
    code = "invalid_token"

    def __init__(self, detail: str):
        super().__init__(detail, headers=_BEARER)


class TokenExpired(GatewayError):
    """A well-formed token past its expiry; the dashboard refreshes, scripts sign in again."""

    status_code = 401
    code = "token_expired"

    def __init__(self, detail: str):
        super().__init__(detail, headers=_BEARER)


class InvalidApiKey(GatewayError):
    """An X-API-Key that is unknown or revoked."""

    status_code = 401
    code = "invalid_api_key"


class ConflictingCredentials(GatewayError):
    """A valid bearer token and a valid X-API-Key of two different accounts in one request."""

    status_code = 401
    code = "conflicting_credentials"

    def __init__(self, detail: str):
        super().__init__(detail, headers=_BEARER)


class WrongCredentials(GatewayError):
    """Sign-in with an unknown username or a wrong password (deliberately not saying which)."""

    status_code = 401
    code = "wrong_credentials"

    def __init__(self) -> None:
        super().__init__("wrong username or password", headers=_BEARER)


class AccountDisabled(GatewayError):
    status_code = 403
    code = "account_disabled"


class AdminRequired(GatewayError):
    status_code = 403
    code = "admin_required"


class UsernameTaken(GatewayError):
    status_code = 409
    code = "username_taken"


class RegistrationClosed(GatewayError):
    status_code = 403
    code = "registration_closed"


class SignInThrottled(RateLimited):
    """Too many sign-in attempts from this address or for this account: refused before any password check."""

    def __init__(self, limited_by: Literal["address", "account"], retry_after_s: int, limit_per_minute: int):
        if limited_by == "address":
            why = (
                f"too many attempts from your address: at most {limit_per_minute} sign-in, sign-up and "
                "refresh requests per minute, right or wrong"
            )
        else:
            why = (
                f"too many sign-in attempts for this account, from any address: at most "
                f"{limit_per_minute} per minute, right or wrong"
            )
        super().__init__(
            f"{why}; nothing was checked. Retry in {retry_after_s} s",
            retry_after_s=retry_after_s,
            extra={"limited_by": limited_by, "limit_per_minute": limit_per_minute},
        )
