"""A calendar connector: one provider's busy blocks turned into `integrations.busy_synced.v1`.

The same use cases for every calendar provider (CalDAV, an ICS link, Google): read with no transaction
open, then record in one short transaction — the blocks published only when they changed since the last
publish, and the connection's last refresh (or its failure: the blocks known before it stay, and the
connection is stale). One refresh per person at a time, whichever calendar.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from oo_contracts.consents import ConsentPurpose
from oo_contracts.events import BusyBlock, BusySynced, ProviderForgotten, envelope
from services.integrations.calendar.busy import Block, Window, clipped, fingerprint
from services.integrations.calendar.reading import BusyReader, CalendarProblem, CalendarRefused, CalendarUnavailable
from services.integrations.calendar.repository import CalendarRepository
from services.integrations.connector import RefreshOutcome
from services.integrations.service import Connection, ConnectionService, ProviderTokens, TokenRevoker
from services.kernel.errors import Conflict
from services.kernel.ports import ConsentCheck, EventPublisher
from services.kernel.unit_of_work import Transaction, UnitOfWork
from services.kernel.vault import SealedValueRefused

log = structlog.get_logger(__name__)
SOURCE = "integrations"


class TokenRenewer(Protocol):
    """A provider whose access tokens expire: new ones before they do (None while they still serve for
    longer than `before`, or the provider's own margin when that is None)."""

    async def renewed(
        self, tokens: ProviderTokens, now: datetime, before: timedelta | None = None
    ) -> ProviderTokens | None: ...


class NothingToRevoke:
    """A provider without a grant to revoke (a CalDAV app password, an ICS link): the person removes it
    at the provider, and oO has already deleted its copy."""

    async def revoke(self, tokens: ProviderTokens) -> None:
        return None


class PersonLocks:
    """One refresh per person at a time in this process, whichever calendar: a person's refreshes never
    race each other's fingerprints, and a provider never sees two of oO's reads of one person at once."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, user_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(user_id, (asyncio.Lock(), 0))
        self._locks[user_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[user_id]
            if users == 1:
                del self._locks[user_id]
            else:
                self._locks[user_id] = (lock, users - 1)


@dataclass
class CalendarDeps:
    """What every calendar connector shares, built once at the composition root."""

    transaction: Transaction
    connections: ConnectionService
    consents: ConsentCheck
    publisher: EventPublisher
    repository: CalendarRepository = field(default_factory=CalendarRepository)
    locks: PersonLocks = field(default_factory=PersonLocks)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def consent_required(purpose: ConsentPurpose) -> Conflict:
    return Conflict(
        f"you have not granted oO to read this calendar (purpose `{purpose.value}`); grant it with "
        "PUT /v1/me/consents first",
        code="consent_required",
    )


class CalendarConnector:
    """A `Connector` (services/integrations/connector.py) for one calendar provider."""

    def __init__(
        self,
        provider: str,
        consent: ConsentPurpose,
        reader: BusyReader,
        deps: CalendarDeps,
        *,
        revoker: TokenRevoker | None = None,
        renewer: TokenRenewer | None = None,
    ) -> None:
        self.provider = provider
        self.consent = consent
        self.revoker: TokenRevoker = revoker or NothingToRevoke()
        self._reader = reader
        self._renewer = renewer
        self._deps = deps

    async def require_consent(self, uow: UnitOfWork, user_id: str) -> None:
        if not await self._deps.consents.granted(uow, user_id, self.consent):
            raise consent_required(self.consent)

    async def connect(self, user_id: str, tokens: ProviderTokens) -> Connection:
        """Read the calendar with the new credentials (a CalendarProblem if it does not answer), then
        store them and publish what was read, in one transaction."""
        async with self._deps.locks.hold(user_id):
            window = Window.around(self._deps.clock())
            blocks = await self._read(tokens, window)
            async with self._deps.transaction() as uow:
                await self.require_consent(uow, user_id)  # again: a withdrawal may have landed meanwhile
                await self._deps.connections.connect(uow, user_id, self.provider, tokens)
                await self._record(uow, user_id, blocks, window)
                connection = await self._deps.connections.connection(uow, user_id, self.provider)
        assert connection is not None  # written just above, in that transaction
        return connection

    async def refresh(self, user_id: str) -> RefreshOutcome:
        async with self._deps.locks.hold(user_id):
            return await self._refresh(user_id)

    async def _refresh(self, user_id: str) -> RefreshOutcome:
        async with self._deps.transaction(write=False) as uow:
            if not await self._deps.consents.granted(uow, user_id, self.consent):
                return "not_allowed"
            connection = await self._deps.connections.connection(uow, user_id, self.provider)
            if connection is None:
                return "not_connected"
            if not connection.connected:
                return "failed"  # broken: only connecting again mends it
            try:
                tokens = await self._deps.connections.tokens(uow, user_id, self.provider)
            except SealedValueRefused:
                tokens = None
        if tokens is None:
            await self._failed(user_id, CalendarRefused("unreadable", "the stored credentials do not open"))
            return "failed"
        window = Window.around(self._deps.clock())
        try:
            tokens = await self._renewed(user_id, tokens)
            blocks = await self._read(tokens, window)
        except CalendarProblem as problem:
            await self._failed(user_id, problem)
            return "failed"
        async with self._deps.transaction() as uow:
            # What was read is recorded only if the person still lets oO read it and is still connected.
            if not await self._deps.consents.granted(uow, user_id, self.consent):
                return "not_allowed"
            if await self._deps.connections.connection(uow, user_id, self.provider) is None:
                return "not_connected"
            await self._record(uow, user_id, blocks, window)
        return "refreshed"

    async def _read(self, tokens: ProviderTokens, window: Window) -> list[Block]:
        try:
            return await self._reader.read(tokens, window)
        except CalendarProblem:
            raise
        except Exception as error:
            # A provider's answer a library chokes on is the provider's failure, not the person's request's:
            # the type alone is logged, as its text may quote what was sent.
            log.warning("calendar_read_failed", provider=self.provider, error=type(error).__name__)
            raise CalendarUnavailable("bad_answer", "the calendar answered with something oO cannot read") from None

    @property
    def renews_tokens(self) -> bool:
        return self._renewer is not None

    async def renew_token(self, user_id: str, before: timedelta) -> bool:
        """The `token_refresh` job: renew the person's grant if it ends within `before`, so a read never
        waits on a renewal. True if the grant is good for at least that long now. A grant the provider
        refuses breaks the connection, as a read would; a provider away is left to the next attempt."""
        if self._renewer is None:
            return False
        async with self._deps.locks.hold(user_id):
            async with self._deps.transaction(write=False) as uow:
                if not await self._deps.consents.granted(uow, user_id, self.consent):
                    return False
                connection = await self._deps.connections.connection(uow, user_id, self.provider)
                if connection is None or not connection.connected:
                    return False
                try:
                    tokens = await self._deps.connections.tokens(uow, user_id, self.provider)
                except SealedValueRefused:
                    return False
            if tokens is None:
                return False
            try:
                await self._renewed(user_id, tokens, before)
            except CalendarRefused as refused:
                await self._failed(user_id, refused)
                return False
            except CalendarProblem as problem:
                log.info("calendar_token_refresh_failed", provider=self.provider, reason=problem.code)
                return False
        return True

    async def _renewed(self, user_id: str, tokens: ProviderTokens, before: timedelta | None = None) -> ProviderTokens:
        if self._renewer is None:
            return tokens
        renewed = await self._renewer.renewed(tokens, self._deps.clock(), before)
        if renewed is None:
            return tokens
        async with self._deps.transaction() as uow:
            await self._deps.connections.store_refreshed(uow, user_id, self.provider, renewed)
        return renewed

    async def _record(self, uow: UnitOfWork, user_id: str, blocks: list[Block], window: Window) -> None:
        hashed = fingerprint(blocks)
        if hashed != await self._deps.repository.fingerprint(uow, user_id, self.provider):
            synced = BusySynced(
                calendar=self.provider,
                window_start=window.start,
                window_end=window.end,
                intervals=[BusyBlock(start=s, end=e) for s, e in clipped(blocks, window)],
            )
            await self._publish(uow, user_id, "integrations.busy_synced.v1", synced)
            await self._deps.repository.set_fingerprint(uow, user_id, self.provider, hashed)
        await self._deps.connections.record_sync(uow, user_id, self.provider)

    async def _failed(self, user_id: str, problem: CalendarProblem) -> None:
        log.info("calendar_refresh_failed", provider=self.provider, reason=problem.code)
        async with self._deps.transaction() as uow:
            if isinstance(problem, CalendarRefused):
                await self._deps.connections.mark_broken(uow, user_id, self.provider)
            await self._deps.connections.record_sync(uow, user_id, self.provider, problem.code)

    async def forget(self, uow: UnitOfWork, user_id: str) -> None:
        """Everything read from this calendar goes from the person's features, in the caller's transaction;
        the next read publishes anew."""
        await self._publish(
            uow, user_id, "integrations.provider_forgotten.v1", ProviderForgotten(provider=self.provider)
        )
        await self._deps.repository.set_fingerprint(uow, user_id, self.provider, None)

    async def _publish(
        self, uow: UnitOfWork, user_id: str, event_type: str, payload: BusySynced | ProviderForgotten
    ) -> None:
        event = envelope(
            event_id=uuid.uuid4(),
            event_type=event_type,
            user_id=user_id,
            occurred_at=self._deps.clock(),
            source=SOURCE,
            payload=payload,
        )
        await self._deps.publisher.publish(uow, [event])
