"""Todoist's OAuth code flow, refresh and revocation, through Authlib (the SDK's token helpers know
neither refresh tokens nor RFC 7009).

`state` is single-use, bound to the person who began the flow, and expires; it is stored as a hash.
A person gets `data:read`, and `data:read_write` only when they ask that "Done" in oO completes the
task in Todoist. Refresh tokens rotate: the new pair is stored in one write, one refresh at a time.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import structlog
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from todoist_api_python.authentication import get_authentication_url

from oo_contracts.consents import ConsentPurpose
from services.integrations.provider_store import OAuthStates
from services.integrations.service import ConnectionService, ProviderTokens
from services.integrations.todoist.http import TODOIST_OAUTH, Transports
from services.integrations.todoist.settings import TodoistSettings
from services.kernel.ports import ConsentCheck
from services.kernel.unit_of_work import Transaction, UnitOfWork

log = structlog.get_logger(__name__)

PROVIDER = "todoist"
READ_SCOPES = ("data:read",)
WRITE_SCOPES = ("data:read_write",)
STATE_SECONDS = 600
REFRESH_BEFORE = timedelta(seconds=60)
Failure = Literal[
    "access_denied",
    "bad_code",
    "app_credentials",
    "state_unknown",
    "wrong_person",
    "not_allowed",
    "unreachable",
    "provider_error",
]
UserHold = Callable[[Any, str], Any]


class GrantRefused(Exception):
    """Todoist refused the grant (`invalid_grant` on refresh): the person must connect again."""


@dataclass(frozen=True)
class Account:
    id: str
    timezone: str | None


@dataclass(frozen=True)
class Finished:
    """A callback's outcome: the person it was for (None if the state was unknown), and the failure."""

    user_id: str | None
    failure: Failure | None = None


class TodoistOAuth:
    def __init__(
        self,
        settings: TodoistSettings,
        connections: ConnectionService,
        transaction: Transaction,
        consents: ConsentCheck,
        hold_active_user: UserHold,
        transports: Transports,
    ) -> None:
        self._settings = settings
        self._connections = connections
        self._states = OAuthStates()
        self._transaction = transaction
        self._consents = consents
        self._hold_active_user = hold_active_user
        self._transports = transports
        self._refreshing: dict[str, asyncio.Lock] = {}

    async def start(self, uow: UnitOfWork, user_id: str, *, write: bool) -> str:
        """The authorize URL to send the person to; its `state` kept for one callback, ten minutes."""
        state = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        scopes = WRITE_SCOPES if write else READ_SCOPES
        await self._states.prune(uow, now)
        await self._states.put(
            uow,
            state=state,
            user_id=user_id,
            provider=PROVIDER,
            scopes=scopes,
            now=now,
            expires_at=now + timedelta(seconds=STATE_SECONDS),
        )
        url = get_authentication_url(self._client_id, list(scopes), state)  # type: ignore[arg-type]
        return url.replace(TODOIST_OAUTH, self._oauth_url, 1)

    async def finish(self, caller_id: str | None, *, state: str, code: str | None, error: str | None) -> Finished:
        """Take the state (once), check the caller began it, exchange the code, learn the account, and
        store the connection."""
        async with self._transaction() as uow:
            pending = await self._states.take(uow, state, PROVIDER)
        if pending is None or pending.expires_at <= datetime.now(UTC):
            return Finished(None, "state_unknown")
        user_id: str = pending.user_id
        if caller_id != user_id:
            # Another person's flow: it goes nowhere, and its state is spent.
            return Finished(None, "wrong_person")
        if error is not None or code is None:
            return Finished(user_id, "access_denied" if error in (None, "access_denied") else "provider_error")
        try:
            tokens = await self._exchange(code, tuple(pending.scopes))
            account = await self.account(tokens)
        except OAuthFailure as failure:
            return Finished(user_id, failure.reason)
        except httpx.TransportError:
            return Finished(user_id, "unreachable")
        except (httpx.HTTPStatusError, ValueError, KeyError):
            return Finished(user_id, "provider_error")
        async with self._transaction() as uow:
            if not await self._hold_active_user(uow, user_id):
                return Finished(user_id, "not_allowed")
            if not await self._consents.granted(uow, user_id, ConsentPurpose.integration_todoist):
                return Finished(user_id, "not_allowed")
            await self._connections.connect(uow, user_id, PROVIDER, tokens, account_id=account.id)
        return Finished(user_id)

    async def _exchange(self, code: str, asked: tuple[str, ...]) -> ProviderTokens:
        async with self._oauth_client() as client:
            try:
                token = await client.fetch_token(
                    f"{self._oauth_url}/access_token", code=code, grant_type="authorization_code"
                )
            except AuthlibBaseError as refused:
                code_name = getattr(refused, "error", "") or ""
                if code_name in ("bad_authorization_code", "invalid_grant"):
                    raise OAuthFailure("bad_code") from None
                if code_name in ("incorrect_application_credentials", "invalid_client", "unauthorized_client"):
                    raise OAuthFailure("app_credentials") from None
                raise OAuthFailure("provider_error") from None
            except httpx.TransportError:
                raise OAuthFailure("unreachable") from None
            except ValueError:  # no JSON in the answer
                raise OAuthFailure("provider_error") from None
        return _tokens(token, asked)

    async def account(self, grant: ProviderTokens) -> Account:
        """The person's Todoist account: its id (how webhooks name them) and time zone. The SDK has no call
        for it, so it is read from `/api/v1/user` with the same transport."""
        async with httpx.AsyncClient(transport=self._transports.sdk()) as client:
            answer = await client.get(
                f"{self._api_url}/api/v1/user", headers={"Authorization": f"Bearer {grant.access_token}"}
            )
            answer.raise_for_status()
            body = answer.json()
        zone = (body.get("tz_info") or {}).get("timezone")
        return Account(id=str(body["id"]), timezone=zone if isinstance(zone, str) else None)

    async def fresh(self, user_id: str, grant: ProviderTokens, before: timedelta = REFRESH_BEFORE) -> ProviderTokens:
        """The grant, refreshed first if it expires within `before` (a minute before a call; the periodic
        `token_refresh` job looks further ahead). One refresh per person at a time in this process, and
        the rotated pair is stored in one write."""
        if grant.refresh_token is None or grant.expires_at is None:
            return grant  # an app without refresh tokens holds a long-lived access token
        if grant.expires_at - before > datetime.now(UTC):
            return grant
        lock = self._refreshing.setdefault(user_id, asyncio.Lock())
        async with lock:
            async with self._transaction(write=False) as uow:
                current = await self._connections.tokens(uow, user_id, PROVIDER)
            if current is None:
                raise GrantRefused("the connection is gone")
            if current.expires_at is not None and current.expires_at - before > datetime.now(UTC):
                return current  # another caller refreshed it while this one waited
            async with self._oauth_client() as client:
                try:
                    token = await client.refresh_token(
                        f"{self._oauth_url}/access_token", refresh_token=current.refresh_token
                    )
                except AuthlibBaseError:
                    raise GrantRefused("Todoist refused the refresh token") from None
            renewed = _tokens(token, current.scopes)
            async with self._transaction() as uow:
                if not await self._connections.store_refreshed(uow, user_id, PROVIDER, renewed):
                    raise GrantRefused("the connection is gone")
            return renewed

    async def revoke(self, tokens: ProviderTokens) -> None:
        """RFC 7009 at Todoist (`/api/v1/revoke`, the app's credentials as Basic auth)."""
        async with self._oauth_client() as client:
            answer = await client.revoke_token(
                f"{self._api_url}/api/v1/revoke",
                token=tokens.access_token,
                token_type_hint="access_token",  # noqa: S106 - the hint's name, not a secret
            )
            answer.raise_for_status()

    def _oauth_client(self) -> AsyncOAuth2Client:
        secret = self._settings.client_secret
        return AsyncOAuth2Client(
            client_id=self._client_id,
            client_secret=secret.get_secret_value() if secret is not None else None,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method's name, not a secret
            revocation_endpoint_auth_method="client_secret_basic",
            redirect_uri=self._settings.redirect_uri,
            transport=self._transports.oauth(),
        )

    @property
    def _oauth_url(self) -> str:
        return self._settings.oauth_url.rstrip("/")

    @property
    def _api_url(self) -> str:
        return self._settings.api_url.rstrip("/")

    @property
    def _client_id(self) -> str:
        if not self._settings.configured or self._settings.client_id is None:
            raise OAuthFailure("app_credentials")
        return self._settings.client_id


class OAuthFailure(Exception):
    def __init__(self, reason: Failure) -> None:
        super().__init__(reason)
        self.reason: Failure = reason


def _tokens(token: dict[str, Any], asked: tuple[str, ...]) -> ProviderTokens:
    expires_in = token.get("expires_in")
    granted = token.get("scope")
    scopes = tuple(s for s in str(granted).replace(" ", ",").split(",") if s) if granted else asked
    return ProviderTokens(
        access_token=str(token["access_token"]),
        refresh_token=str(token["refresh_token"]) if token.get("refresh_token") else None,
        expires_at=datetime.now(UTC) + timedelta(seconds=int(expires_in)) if expires_in else None,
        scopes=scopes,
    )
