"""Shared route dependencies: the gateway's parts and the caller's identity, as annotated types.

Identity, strictest last:
    OptionalIdentityDep   whoever the credentials say, else anonymous; any bad credential sent is a 401,
                          even next to a good one, and a token and a key must name the same account
    CallerDep             as above, but anonymous only while auth_required is false
    UserDep               a signed-in user, whatever auth_required says (accounts, API keys)
    AdminDep              a signed-in admin

Every dependency here is ``async def``: FastAPI runs a sync dependency in its threadpool, one thread hop
per dependency per request, which under load cost more of the gateway's CPU than the work inside them.
FastAPI also walks a dependency's whole sub-tree again each time another one depends on it (cached
values included), so the identity chain reads the gateway from the request (``gateway_of``) rather
than depending on ``GatewayDep``: the detection routes resolve 15 dependencies a request, not 26.
None of them blocks the event loop: they read the app and request state or count in memory, and the one
that queries the database (checking a bearer token or an API key) hands that work to the threadpool
itself, only when the request carries a credential; an anonymous request never leaves the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from gateway.auth import accounts
from gateway.auth.api_keys import HEADER as API_KEY_HEADER
from gateway.auth.errors import AdminRequired, ConflictingCredentials, InvalidToken, NotAuthenticated
from gateway.auth.identity import ANONYMOUS, Identity
from gateway.auth.signin_limits import SignInLimits
from gateway.auth.tokens import TokenService
from gateway.db.engine import Database
from gateway.detection import DetectionPipeline
from gateway.history.recorder import HistoryRecorder, RequestHistory
from gateway.metrics import GatewayMetrics
from gateway.ratelimit import RateLimiter
from gateway.registry import Registry
from gateway.settings import GatewaySettings
from tribunal_sdk.client import FanoutClient


@dataclass
class Gateway:
    """Everything one gateway app holds; stored on ``app.state.gateway``."""

    settings: GatewaySettings
    registry: Registry
    fanout: FanoutClient
    service: DetectionPipeline
    metrics: GatewayMetrics
    db: Database
    tokens: TokenService
    history: HistoryRecorder
    detect_limiter: RateLimiter
    sign_in_limits: SignInLimits


def gateway_of(request: Request) -> Gateway:
    return request.app.state.gateway


async def get_gateway(request: Request) -> Gateway:
    return gateway_of(request)


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def request_id(request: Request) -> str | None:
    return request_id_of(request)


RequestIdDep = Annotated[str | None, Depends(request_id)]

# auto_error=False: these only read the headers; the dependencies below decide what is required.
_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


async def optional_identity(
    request: Request,
    token: Annotated[str | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Identity:
    """The identity the request's credentials prove, or anonymous when it sends none.

    Every credential sent is checked: a bad bearer token or a bad X-API-Key is a 401 even next to a
    good one of the other kind, and a token and a key sent together must name the same account.
    """
    if not token and not api_key:
        return ANONYMOUS
    # Database queries: in the threadpool, as a sync dependency would be.
    return await run_in_threadpool(_proven_identity, gateway_of(request), token, api_key)


def _proven_identity(gateway: Gateway, token: str | None, api_key: str | None) -> Identity:
    """``optional_identity`` for a request that sends credentials (blocking: reads the accounts)."""
    proven: list[Identity] = []
    with gateway.db.session() as session:
        if token:
            claims = gateway.tokens.decode(token, "access")
            user = accounts.active_user(session, claims.user_id)
            if user is None:
                raise InvalidToken("the token's account no longer exists or is disabled")
            proven.append(accounts.identity_of(user, "token"))
        if api_key:
            proven.append(accounts.identity_from_api_key(session, api_key))
    if len({identity.user_id for identity in proven}) > 1:
        raise ConflictingCredentials(
            "the bearer token and the X-API-Key belong to different accounts; send one of them"
        )
    return proven[0]


OptionalIdentityDep = Annotated[Identity, Depends(optional_identity)]


async def caller(request: Request, identity: OptionalIdentityDep) -> Identity:
    if identity.is_anonymous and gateway_of(request).settings.auth_required:
        raise NotAuthenticated()
    return identity


CallerDep = Annotated[Identity, Depends(caller)]


async def signed_in_user(identity: OptionalIdentityDep) -> Identity:
    if identity.is_anonymous:
        raise NotAuthenticated()
    return identity


UserDep = Annotated[Identity, Depends(signed_in_user)]


async def admin_user(identity: UserDep) -> Identity:
    if not identity.is_admin:
        raise AdminRequired("this needs an administrator account")
    return identity


AdminDep = Annotated[Identity, Depends(admin_user)]


async def detect_rate_limit(request: Request, identity: CallerDep) -> None:
    """Count a detection against the caller's per-user limit (anonymous callers are not limited)."""
    if identity.rate_key is not None:
        gateway_of(request).detect_limiter.check(identity.rate_key)


async def client_address(request: Request) -> str:
    """The TCP peer, or the client that a trusted proxy names (ForwardedClientMiddleware sets it)."""
    return request.client.host if request.client else "unknown"


ClientAddressDep = Annotated[str, Depends(client_address)]


async def login_rate_limit(request: Request, address: ClientAddressDep) -> None:
    """Count a sign-up or token refresh against the client address (sign-ins count in their route)."""
    gateway_of(request).sign_in_limits.count_address(address)


async def request_history(request: Request, identity: CallerDep) -> RequestHistory:
    """The history bound to the caller and the request id (``history.request_id``)."""
    return RequestHistory(gateway_of(request).history, identity.user_id, request_id_of(request))


HistoryDep = Annotated[RequestHistory, Depends(request_history)]
