"""Accounts: POST /auth/register, POST /auth/token (OAuth2 password flow), POST /auth/refresh, GET /auth/config."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from gateway.auth import accounts
from gateway.auth.errors import InvalidToken, RegistrationClosed
from gateway.auth.schemas import AuthConfigOut, RefreshRequest, RegisterRequest, TokenOut, UserOut
from gateway.routes.deps import GatewayDep, login_rate_limit

router = APIRouter(prefix="/auth", tags=["accounts"])

_LIMITED = [Depends(login_rate_limit)]


@router.get("/config")
def auth_config(gateway: GatewayDep) -> AuthConfigOut:
    """Whether sign-in is required and sign-up is open (read by the dashboard before anyone signs in)."""
    return AuthConfigOut(
        auth_required=gateway.settings.auth_required,
        registration_open=gateway.settings.registration_open,
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, dependencies=_LIMITED)
def register(body: RegisterRequest, gateway: GatewayDep) -> UserOut:
    """Create an account. The first account is the admin; later ones are users."""
    with gateway.db.session() as session:
        if not gateway.settings.registration_open and accounts.count_users(session) > 0:
            raise RegistrationClosed("sign-up is closed on this gateway; ask an administrator for an account")
        user = accounts.register(session, body.username, body.password)
        return UserOut.model_validate(user)


@router.post("/token", dependencies=_LIMITED)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], gateway: GatewayDep) -> TokenOut:
    """Sign in with username and password (form fields); answers an access and a refresh token."""
    with gateway.db.session() as session:
        user = accounts.authenticate(session, form.username, form.password)
        user_id = user.id
    pair = gateway.tokens.issue_pair(user_id)
    return TokenOut(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


@router.post("/refresh", dependencies=_LIMITED)
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
