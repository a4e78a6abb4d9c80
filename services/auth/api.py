"""The auth module's facade: users, personal API tokens, the Principal behind each request."""

from __future__ import annotations

from fastapi import APIRouter

from services.auth.repository import AuthRepository
from services.auth.routes import build_router
from services.auth.service import IdentityService, UserIdentity
from services.auth.tokens import NewToken, parse_token
from services.kernel.ports import EventPublisher

__all__ = ["AuthModule", "NewToken", "parse_token"]


class AuthModule:
    def __init__(self, publisher: EventPublisher) -> None:
        repository = AuthRepository()
        self.identity = IdentityService(repository, publisher)
        self.user_data = UserIdentity(repository)

    def router(self) -> APIRouter:
        return build_router()
