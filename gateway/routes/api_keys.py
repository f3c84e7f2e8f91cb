"""API keys for scripts: POST /api-keys (the key is in this answer only), GET /api-keys, DELETE /api-keys/{id}."""

from __future__ import annotations

from fastapi import APIRouter, status

from gateway.auth import accounts
from gateway.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from gateway.openapi import error_responses
from gateway.routes.deps import GatewayDep, UserDep
from gateway.routes.params import RowId

router = APIRouter(prefix="/api-keys", tags=["accounts"], responses=error_responses(401, 403))


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(422))
def create_key(body: ApiKeyCreate, identity: UserDep, gateway: GatewayDep) -> ApiKeyCreated:
    """A new key for the caller. Send it as ``X-API-Key``; it cannot be shown again."""
    with gateway.db.session() as session:
        row, new = accounts.create_api_key(session, identity.user_id, body.name)
        return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=new.plaintext)


@router.get("")
def list_keys(identity: UserDep, gateway: GatewayDep) -> list[ApiKeyOut]:
    """The caller's keys, newest first, revoked ones included (without the keys themselves)."""
    with gateway.db.session() as session:
        return [ApiKeyOut.model_validate(row) for row in accounts.list_api_keys(session, identity.user_id)]


@router.delete("/{key_id}", responses=error_responses(404, 422))
def revoke_key(key_id: RowId, identity: UserDep, gateway: GatewayDep) -> ApiKeyOut:
    """Revoke one of the caller's keys; requests using it get 401 from now on."""
    with gateway.db.session() as session:
        return ApiKeyOut.model_validate(accounts.revoke_api_key(session, identity.user_id, key_id))
