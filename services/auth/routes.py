"""HTTP routes of the auth module."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from oo_contracts.identity import AuthMethod, Principal, RefreshGrant, Role, Scope, TokenPair
from services.auth.service import IdentityService
from services.kernel.error_handlers import render_error
from services.kernel.errors import Unauthenticated
from services.kernel.http import CurrentUnitOfWork, error_responses, require_principal
from services.kernel.rate_limits import CREDENTIALS, RateLimiter


class Me(BaseModel):
    user_id: str
    method: AuthMethod
    scopes: list[Scope]
    role: Role


def build_router(identity: IdentityService, rate_limits: RateLimiter) -> APIRouter:
    router = APIRouter(tags=["identity"])

    @router.get("/.well-known/jwks.json", summary="The public keys oO signs access tokens with")
    async def jwks() -> JSONResponse:
        """Every key that still verifies (the current one and those rotated out but not yet retired),
        public parts only."""
        return JSONResponse(identity.jwks(), headers={"Cache-Control": "public, max-age=300"})

    @router.post(
        "/v1/auth/token",
        response_model=TokenPair,
        summary="Trade a refresh token for a new access token and its successor",
        responses=error_responses(400, 401, 413, 422, 429, 503),
        dependencies=[Depends(rate_limits.guard(CREDENTIALS))],
    )
    async def token(grant: RefreshGrant, uow: CurrentUnitOfWork) -> TokenPair | JSONResponse:
        """An API client's refresh (RFC 9700): each refresh token works once; using one again revokes its
        whole family, the successor it gave included. 401 `invalid_grant` for a token that is unknown,
        used, revoked, expired, or whose account is being deleted — one answer for all."""
        pair = await identity.refresh(uow, grant.refresh_token)
        if pair is None:
            # Answered, not raised: a reuse's revocation of the family must commit with this refusal.
            return render_error(Unauthenticated("the refresh token is not valid", code="invalid_grant"))
        return pair

    @router.get("/v1/me", response_model=Me, summary="Who the caller is", responses=error_responses(401, 403, 503))
    async def me(principal: Annotated[Principal, Depends(require_principal)]) -> Me:
        return Me(
            user_id=principal.user_id, method=principal.method, scopes=sorted(principal.scopes), role=principal.role
        )

    return router
