"""Accounts: POST /auth/register, POST /auth/token (OAuth2 password flow), POST /auth/refresh, GET /auth/config."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, status

from gateway.auth import accounts
from gateway.auth.errors import InvalidToken, RegistrationClosed
from gateway.auth.schemas import (
    AuthConfigOut,
    RefreshRequest,
    RegisterRequest,
    SignInForm,
    TokenOut,
    UserOut,
)
from gateway.openapi import error_responses
from gateway.routes.deps import ClientAddressDep, GatewayDep, login_rate_limit

router = APIRouter(prefix="/auth", tags=["accounts"])

_LIMITED = [Depends(login_rate_limit)]


@router.get("/config")
def auth_config(gateway: GatewayDep) -> AuthConfigOut:
    """Whether sign-in is required and sign-up is open (read by the dashboard before anyone signs in)."""
    return AuthConfigOut(
        auth_required=gateway.settings.auth_required,
        registration_open=gateway.settings.registration_open,
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=_LIMITED,
    responses=error_responses(403, 409, 422, 429, described={403: "sign-up is closed on this gateway"}),
)
def register(body: RegisterRequest, gateway: GatewayDep) -> UserOut:
    """Create an account. The first account is the admin; later ones are users."""
    with gateway.db.session() as session:
        if not gateway.settings.registration_open and accounts.count_users(session) > 0:
            raise RegistrationClosed("sign-up is closed on this gateway; ask an administrator for an account")
        user = accounts.register(session, body.username, body.password)
        return UserOut.model_validate(user)


@router.post(
    "/token",
    responses=error_responses(
        401,
        403,
        422,
        429,
        described={
            401: "wrong username or password (the same answer for both)",
            403: "the account is disabled",
            429: "too many attempts from this address or for this account (`limited_by`); nothing was checked",
        },
    ),
)
def token(form: Annotated[SignInForm, Form()], gateway: GatewayDep, address: ClientAddressDep) -> TokenOut:
    """Sign in with username and password (form fields); answers an access and a refresh token.

    Every attempt counts against the client address and against the account, before the password
    is checked; over either limit the answer is 429 naming which (``limited_by``), with Retry-After.
    """
    gateway.sign_in_limits.count_sign_in(address, form.username)
    with gateway.db.session() as session:
        user = accounts.authenticate(session, form.username, form.password)
        user_id = user.id
    pair = gateway.tokens.issue_pair(user_id)
    return TokenOut(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


@router.post(
    "/refresh",
    dependencies=_LIMITED,
    responses=error_responses(401, 422, 429, described={401: "a bad or expired refresh token"}),
)
def refresh(body: RefreshRequest, gateway: GatewayDep) -> TokenOut:
    """Trade a valid refresh token for a new pair (the account must still exist and be enabled)."""
    claims = gateway.tokens.decode(body.refresh_token, "refresh")
    with gateway.db.session() as session:
        if accounts.active_user(session, claims.user_id) is None:
            raise InvalidToken("the token's account no longer exists or is disabled")
    pair = gateway.tokens.issue_pair(claims.user_id)
    return TokenOut(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )
