"""The auth module's facade: users, personal API tokens, the Principal behind each request."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from services.auth.access_tokens import AUDIENCE, ISSUER, KEYS_FILE_NAME, AccessTokens, SigningKeys
from services.auth.apple_notifications import AppleNotifications
from services.auth.apple_routes import build_apple_router
from services.auth.login import Logins
from services.auth.login_routes import build_login_router
from services.auth.oidc import OidcClients
from services.auth.repository import AuthRepository
from services.auth.routes import build_router
from services.auth.service import IdentityService, UserIdentity
from services.auth.sessions import Clock, Sessions, now_utc
from services.auth.settings import AuthSettings
from services.auth.tokens import NewToken, parse_token
from services.kernel.ports import AccountDeletion, EventPublisher
from services.kernel.rate_limits import RateLimiter

__all__ = ["SIGNING_KEYS_FILE", "AuthModule", "AuthSettings", "NewToken", "parse_token"]

SIGNING_KEYS_FILE = KEYS_FILE_NAME


class AuthModule:
    def __init__(
        self,
        publisher: EventPublisher,
        *,
        signing_keys: Path,
        rate_limits: RateLimiter,
        settings: AuthSettings | None = None,
        public_url: str | None = None,
        issuer: str = ISSUER,
        clock: Clock = now_utc,
    ) -> None:
        self.settings = settings or AuthSettings()
        self._public_url = public_url
        repository = AuthRepository()
        access = AccessTokens(SigningKeys(signing_keys), issuer=issuer, audience=AUDIENCE)
        self.sessions = Sessions(
            idle_seconds=self.settings.session_idle_seconds,
            absolute_seconds=self.settings.session_absolute_seconds,
            clock=clock,
        )
        self.identity = IdentityService(repository, publisher, access, self.sessions)
        self.logins = Logins(OidcClients(self.settings), flow_seconds=self.settings.login_flow_seconds, clock=clock)
        self.user_data = UserIdentity(repository, self.sessions)
        self._rate_limits = rate_limits
        apple = self.settings.oidc_providers.get("apple")
        self.apple = AppleNotifications(apple.client_id if apple else None, self.settings.apple_keys_url)
        # The privacy flow's deletion, wired by the composition root once the profile module exists.
        self.account_deletion: AccountDeletion | None = None

    def router(self) -> APIRouter:
        router = build_router(self.identity, self._rate_limits)
        router.include_router(
            build_login_router(
                self.identity, self.logins, self.settings, self._rate_limits, public_url=self._public_url
            )
        )
        if self.account_deletion is not None:
            router.include_router(build_apple_router(self.identity, self.apple, self.account_deletion))
        return router
