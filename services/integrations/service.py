"""Use cases of the integrations module: a person's connections to providers, their tokens sealed.

What a connector (Todoist, a calendar) builds on: connect after the OAuth code exchange, read the
tokens to call the provider, store refreshed ones, mark a link broken, disconnect. Tokens are opened
only here, only for the connector; nothing else of oO ever sees one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import structlog
from sqlalchemy.engine import Row

from services.integrations.repository import ConnectionRepository, SealedTokens
from services.integrations.sealing import ConnectionSealer
from services.kernel.unit_of_work import UnitOfWork
from services.kernel.vault import SealedValueRefused

log = structlog.get_logger(__name__)

Status = Literal["connected", "broken"]
PROVIDER = re.compile(r"[a-z][a-z0-9_-]{0,31}")
SYNC_ERROR = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True)
class ProviderTokens:
    """A provider's grant as a connector uses it. Its tokens never show in a repr, a log or a traceback."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Connection:
    """A connection as anyone may see it: whether it works and what it may read, never a token."""

    provider: str
    status: Status
    scopes: tuple[str, ...]
    token_expires_at: datetime | None
    connected_at: datetime
    updated_at: datetime
    last_synced_at: datetime | None = None
    sync_error: str | None = None
    account_id: str | None = None

    @property
    def connected(self) -> bool:
        return self.status == "connected"

    @property
    def stale(self) -> bool:
        """The last refresh failed: what oO knows from the provider is as of `last_synced_at`."""
        return self.sync_error is not None


class TokenRevoker(Protocol):
    """A provider's revocation of a grant (RFC 7009 where it has one), implemented by its connector.

    Called once the connection's row is deleted and committed, outside any transaction: the person's
    tokens are gone from oO whether or not the provider answers. A failure is logged by its type only.
    """

    async def revoke(self, tokens: ProviderTokens) -> None: ...


class ConnectionService:
    def __init__(
        self, repository: ConnectionRepository, sealer: ConnectionSealer, revokers: Mapping[str, TokenRevoker]
    ) -> None:
        self._repository = repository
        self._sealer = sealer
        self._revokers = revokers

    async def connect(
        self, uow: UnitOfWork, user_id: str, provider: str, tokens: ProviderTokens, *, account_id: str | None = None
    ) -> Connection:
        """Store a new grant: the person's connection to the provider, made or replaced (one per pair).
        `account_id` is the person's user id at the provider, for webhooks that name only that. A grant
        replaced (asking for more, or connecting again) is revoked at the provider once this commits:
        oO never leaves a grant alive that it no longer holds, and so could not revoke at deletion."""
        _check_provider(provider)
        replaced = await self._repository.connection(uow, user_id, provider)
        if replaced is not None and self._replaced_grant(replaced, tokens):
            self._revoke_after_commit(uow, [replaced])
        await self._repository.upsert(
            uow,
            user_id=user_id,
            provider=provider,
            sealed=self._seal(user_id, provider, tokens),
            expires_at=tokens.expires_at,
            scopes=tokens.scopes,
            now=datetime.now(UTC),
            account_id=account_id,
        )
        connection = await self.connection(uow, user_id, provider)
        assert connection is not None  # written just above, in this transaction
        return connection

    async def store_refreshed(self, uow: UnitOfWork, user_id: str, provider: str, tokens: ProviderTokens) -> bool:
        """Replace the tokens after a refresh (a rotating provider's new refresh token included);
        False if the connection is gone (disconnected meanwhile)."""
        return await self._repository.replace_tokens(
            uow,
            user_id=user_id,
            provider=provider,
            sealed=self._seal(user_id, provider, tokens),
            expires_at=tokens.expires_at,
            scopes=tokens.scopes,
            now=datetime.now(UTC),
        )

    async def tokens(self, uow: UnitOfWork, user_id: str, provider: str) -> ProviderTokens | None:
        """The connection's tokens, opened; None if there is no connection. SealedValueRefused if a
        stored token does not open here (moved from another row or column, changed, or its key gone)."""
        row = await self._repository.connection(uow, user_id, provider)
        return None if row is None else self._open(row)

    async def connection(self, uow: UnitOfWork, user_id: str, provider: str) -> Connection | None:
        row = await self._repository.connection(uow, user_id, provider)
        return None if row is None else _connection(row)

    async def connections(self, uow: UnitOfWork, user_id: str) -> list[Connection]:
        return [_connection(row) for row in await self._repository.connections_of(uow, user_id)]

    async def people_with_account(self, uow: UnitOfWork, provider: str, account_id: str) -> list[str]:
        """The people whose connection to `provider` is its account `account_id` (a webhook's addressee)."""
        return await self._repository.people_with_account(uow, provider, account_id)

    async def connected_people(self, uow: UnitOfWork, provider: str) -> list[str]:
        """Everyone with a working connection to `provider`: a scheduled refresh reads each of them."""
        return await self._repository.connected_people(uow, provider)

    async def mark_broken(self, uow: UnitOfWork, user_id: str, provider: str) -> bool:
        """The provider refused the grant (401, `invalid_grant`): the person must connect again."""
        return await self._repository.set_status(uow, user_id, provider, "broken", datetime.now(UTC))

    async def record_sync(self, uow: UnitOfWork, user_id: str, provider: str, error: str | None = None) -> bool:
        """A refresh from the provider ended: `error` None when it succeeded, else a short code of why
        not (`unreachable`, `rate_limited`, `unauthorized`…). False if the connection is gone."""
        if error is not None and not SYNC_ERROR.fullmatch(error):
            raise ValueError("a sync error is a short code: 1–32 lower-case letters, digits or '_'")
        return await self._repository.record_sync(uow, user_id, provider, error, datetime.now(UTC))

    async def disconnect(self, uow: UnitOfWork, user_id: str, provider: str) -> bool:
        """Delete the connection and, once that has committed, revoke its grant at the provider."""
        row = await self._repository.delete(uow, user_id, provider)
        if row is None:
            return False
        self._revoke_after_commit(uow, [row])
        return True

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> None:
        """Every connection of the person deleted, each grant revoked once the deletion has committed."""
        self._revoke_after_commit(uow, await self._repository.erase_user(uow, user_id))

    def _replaced_grant(self, row: Row[Any], tokens: ProviderTokens) -> bool:
        """Whether the stored grant is another than `tokens` (a provider may hand the same token again,
        which must then stay alive); one that no longer opens is unusable, and cannot be revoked."""
        try:
            return self._open(row).access_token != tokens.access_token
        except SealedValueRefused:
            return False

    def _revoke_after_commit(self, uow: UnitOfWork, rows: Sequence[Row[Any]]) -> None:
        grants: list[tuple[str, ProviderTokens]] = []
        for row in rows:
            try:
                grants.append((row.provider, self._open(row)))
            except SealedValueRefused:
                # Deleted all the same: a token that does not open cannot be revoked, nor used.
                log.warning("integration_revoke_impossible", provider=row.provider, reason="token does not open")

        async def revoke() -> None:
            for provider, tokens in grants:
                revoker = self._revokers.get(provider)
                if revoker is None:
                    log.warning("integration_revoke_unavailable", provider=provider)
                    continue
                try:
                    await revoker.revoke(tokens)
                except Exception as error:
                    # Its text may quote the request, a token in it: the type alone is logged.
                    log.warning("integration_revoke_failed", provider=provider, error=type(error).__name__)

        if grants:
            uow.after_commit(revoke)

    def _seal(self, user_id: str, provider: str, tokens: ProviderTokens) -> SealedTokens:
        return self._sealer.seal(user_id, provider, tokens.access_token, tokens.refresh_token)

    def _open(self, row: Row[Any]) -> ProviderTokens:
        access, refresh = self._sealer.open(row.user_id, row.provider, SealedTokens.of(row))
        return ProviderTokens(access, refresh, expires_at=row.token_expires_at, scopes=tuple(row.scopes))


def _check_provider(provider: str) -> None:
    if not PROVIDER.fullmatch(provider):
        raise ValueError("a provider's name is 1–32 lower-case letters, digits, '-' or '_', starting with a letter")


def _connection(row: Row[Any]) -> Connection:
    return Connection(
        provider=row.provider,
        status=row.status,
        scopes=tuple(row.scopes),
        token_expires_at=row.token_expires_at,
        connected_at=row.connected_at,
        updated_at=row.updated_at,
        last_synced_at=row.last_synced_at,
        sync_error=row.sync_error,
        account_id=row.account_id,
    )
