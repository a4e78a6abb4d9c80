"""HTTP routes of the auth module."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from oo_contracts.identity import AuthMethod, Principal, Scope
from services.kernel.http import error_responses, require_principal


class Me(BaseModel):
    user_id: str
    method: AuthMethod
    scopes: list[Scope]


def build_router() -> APIRouter:
    router = APIRouter(tags=["identity"])

    @router.get("/v1/me", response_model=Me, summary="Who the caller is", responses=error_responses(401, 403, 503))
    async def me(principal: Annotated[Principal, Depends(require_principal)]) -> Me:
        return Me(user_id=principal.user_id, method=principal.method, scopes=sorted(principal.scopes))

    return router
