"""JSON Web Tokens for the dashboard: short-lived access tokens and longer-lived refresh tokens.

HS256 only: ``decode`` pins the algorithm, so ``alg: none`` and algorithm-confusion tokens are refused.
Tokens carry the user id and their type; the user's role and state are read from the database on
every request, so demoting or disabling an account takes effect at once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from jose import ExpiredSignatureError, JWTError, jwt

from gateway.auth.errors import InvalidToken, TokenExpired

ALGORITHM = "HS256"
TokenType = Literal["access", "refresh"]


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token is valid for


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    token_type: TokenType
    expires_at: int


class TokenService:
    """Issues and checks tokens signed with one secret. ``clock`` (unix seconds) dates the tokens issued;
    expiry is checked against the real clock."""

    def __init__(
        self,
        secret: str,
        access_ttl_s: float,
        refresh_ttl_s: float,
        clock: Callable[[], float] = time.time,
    ):
        self._secret = secret
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self._clock = clock

    def issue(self, user_id: int, token_type: TokenType) -> str:
        now = int(self._clock())
        ttl = self.access_ttl_s if token_type == "access" else self.refresh_ttl_s
        claims = {
            "sub": str(user_id),
            "typ": token_type,
            "iat": now,
            "exp": now + int(ttl),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def issue_pair(self, user_id: int) -> TokenPair:
        return TokenPair(
            access_token=self.issue(user_id, "access"),
            refresh_token=self.issue(user_id, "refresh"),
            expires_in=int(self.access_ttl_s),
        )

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        """The claims of a valid, unexpired ``expected``-type token; InvalidToken/TokenExpired otherwise."""
        try:
            # The signature is checked first, so an expired-token answer never vouches for a forged one.
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], options={"require_exp": True})
        except ExpiredSignatureError as exc:
            raise TokenExpired(f"the {expected} token has expired; sign in again or refresh it") from exc
        except JWTError as exc:
            raise InvalidToken(f"the token is not valid: {exc}") from exc
        if claims.get("typ") != expected:
            raise InvalidToken(f"expected an {expected} token, got {claims.get('typ')!r}")
        exp = claims.get("exp")
        try:
            user_id = int(claims["sub"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("the token names no user") from exc
        return TokenClaims(user_id=user_id, token_type=expected, expires_at=exp)


__all__ = ["ALGORITHM", "TokenClaims", "TokenPair", "TokenService", "TokenType"]
