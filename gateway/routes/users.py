"""GET /users/me: the signed-in account; POST /users: an admin adds an account."""

from __future__ import annotations

from fastapi import APIRouter, status

from gateway.auth import accounts
from gateway.auth.errors import InvalidToken
from gateway.auth.schemas import NewUserRequest, UserOut
from gateway.db.models import User
from gateway.openapi import error_responses
from gateway.routes.deps import AdminDep, GatewayDep, UserDep

router = APIRouter(prefix="/users", tags=["accounts"], responses=error_responses(401, 403))


@router.get("/me")
def me(identity: UserDep, gateway: GatewayDep) -> UserOut:
    """The caller's account (by token or API key)."""
    with gateway.db.session() as session:
        user = session.get(User, identity.user_id)
        if user is None:  # deleted between the identity check and here
            raise InvalidToken("the account no longer exists")
        return UserOut.model_validate(user)


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(409, 422))
def add_user(body: NewUserRequest, _: AdminDep, gateway: GatewayDep) -> UserOut:
    """Create an account with the given role (admins only; works while sign-up is closed)."""
    with gateway.db.session() as session:
        return UserOut.model_validate(
            accounts.register(session, body.username, body.password, role=body.role)
        )
