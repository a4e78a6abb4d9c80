"""The auth module's facade: users, personal API tokens, the Principal behind each request."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from services.auth.access_tokens import AUDIENCE, ISSUER, KEYS_FILE_NAME, AccessTokens, SigningKeys
from services.auth.repository import AuthRepository
from services.auth.routes import build_router
from services.auth.service import IdentityService, UserIdentity
from services.auth.tokens import NewToken, parse_token
from services.kernel.ports import EventPublisher
from services.kernel.rate_limits import RateLimiter

__all__ = ["SIGNING_KEYS_FILE", "AuthModule", "NewToken", "parse_token"]

SIGNING_KEYS_FILE = KEYS_FILE_NAME


class AuthModule:
    def __init__(
        self, publisher: EventPublisher, *, signing_keys: Path, rate_limits: RateLimiter, issuer: str = ISSUER
    ) -> None:
        repository = AuthRepository()
        access = AccessTokens(SigningKeys(signing_keys), issuer=issuer, audience=AUDIENCE)
        self.identity = IdentityService(repository, publisher, access)
        self.user_data = UserIdentity(repository)
        self._rate_limits = rate_limits

    def router(self) -> APIRouter:
        return build_router(self.identity, self._rate_limits)
