"""Who is making a request, as the routes see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Via = Literal["token", "api_key", "anonymous"]


@dataclass(frozen=True)
class Identity:
    """A signed-in user (by token or API key), or nobody when auth is off and no credentials were sent."""

    user_id: int | None
    username: str | None
    role: str | None
    via: Via

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def rate_key(self) -> str | None:
        """The key per-user limits count against; None for anonymous callers (a trusted network)."""
        return None if self.user_id is None else f"user:{self.user_id}"


ANONYMOUS = Identity(user_id=None, username=None, role=None, via="anonymous")
