"""Ports between server modules that share a transaction.

They carry a UnitOfWork, so they cannot cross a process boundary; the ports that can (HTTP,
events) are in oo_contracts. The composition root wires implementations to users.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from pydantic import BaseModel

from oo_contracts.consents import ConsentPurpose, Consents
from oo_contracts.events import BatchResult, EventEnvelope
from oo_contracts.identity import Principal
from oo_contracts.integrations import Integrations
from services.kernel.unit_of_work import UnitOfWork


class EventPublisher(Protocol):
    """Every publish goes through here: stored in the caller's transaction, dispatched after commit."""

    async def publish(self, uow: UnitOfWork, events: Sequence[EventEnvelope]) -> BatchResult: ...


class Caller(Protocol):
    """A request's caller, for use cases that open their own transactions: looked up inside the use
    case's first read, so that the read and the lookup are one transaction, not two."""

    async def find(self, uow: UnitOfWork) -> Principal | None:
        """The caller, checked for the scope it needs (401 or 403 if not); None only when local mode's
        user does not exist yet, which `make` creates."""
        ...

    async def make(self) -> Principal:
        """Local mode's very first request: the local user, made in a write of its own."""
        ...


# Rows erased per transaction: ~3 ms of SQLite's writer lock, and of the event loop's thread, on a
# quiet laptop. 500 rows (~7 ms) made others' requests wait up to 105 ms behind shares run back to back
# (`bench.deletion`).
ERASE_CHUNK_ROWS = 200


class UserDataOwner(Protocol):
    """A module that holds rows keyed by a user: it exports them and erases them.

    `tables` names every table of the module with a `user_id` column; a test compares the union
    of all owners' tables with the database schema, so a new table cannot be forgotten.
    """

    section: str
    tables: tuple[str, ...]

    async def export_user(self, uow: UnitOfWork, user_id: str) -> BaseModel | None: ...

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> bool:
        """Erase the user's rows, or at most `ERASE_CHUNK_ROWS` of a large table's: True once none is left.
        Called again, each time in a transaction of its own, until then: a person with hundreds of
        thousands of events never holds the write lock (SQLite's one, or Postgres's row locks) for long."""
        ...


class MessageStore(Protocol):
    """A store of a person's messages outside the database (JetStream): purged by account deletion,
    after every module's rows are erased, outside any transaction."""

    section: str

    async def purge_user(self, user_id: str) -> None:
        """Remove every message of the user; idempotent. Raises if the store cannot be reached (the
        deletion stays pending and resumes)."""
        ...


class IdentityPort(Protocol):
    """What the gateway and the privacy flows need of identity (the auth module)."""

    async def principal_for_token(self, uow: UnitOfWork, token: str) -> Principal | None: ...

    def could_be_valid(self, token: str) -> bool:
        """False for a token no lookup could accept (malformed, or an access token that does not verify)."""
        ...

    async def principal_for_session(self, uow: UnitOfWork, secret: str) -> tuple[Principal, bool] | None:
        """The person a page's session cookie stands for and whether to record its use now; None when
        the session is unknown or over."""
        ...

    async def touch_session(self, uow: UnitOfWork, secret: str) -> None: ...

    async def local_principal(self, uow: UnitOfWork) -> Principal: ...

    async def existing_local_principal(self, uow: UnitOfWork) -> Principal | None: ...

    async def hold_active_user(self, uow: UnitOfWork, user_id: str) -> bool: ...

    async def begin_deletion(self, uow: UnitOfWork, user_id: str) -> bool: ...

    async def users_being_deleted(self, uow: UnitOfWork) -> list[str]: ...


class AccountDeletion(Protocol):
    """The privacy flow's deletion of a person, for a provider that tells oO the person is gone."""

    async def request_deletion(self, uow: UnitOfWork, user_id: str) -> UUID | None: ...


@dataclass(frozen=True)
class ResealShare:
    """What one short transaction of `oo vault rotate` did to one table's rows."""

    resealed: int  # rows now sealed under the current key
    lost: int  # rows a concurrent writer changed first: its write stands, and the next pass looks again
    refused: int  # rows that do not open (a key missing from the keyring, a changed value): left as they are
    next_after: tuple[str, ...] | None  # the last row's key, where the next share starts; None at the end


class SealedStore(Protocol):
    """A module's table of vault ciphertexts, for `oo vault status` and `oo vault rotate`.

    Each row's values are sealed under one key, named in a `key_id` column beside them, so counting
    and finding the rows of a key is a query, not a scan that opens every value.
    """

    table: str

    async def count_by_key(self, uow: UnitOfWork) -> dict[str, int]: ...

    async def reseal_share(self, uow: UnitOfWork, after: tuple[str, ...] | None, limit: int) -> ResealShare:
        """Re-seal under the current key at most `limit` rows not sealed under it, those after `after` in
        the table's key order; each row's update is conditional on the values it read."""


class ConsentCheck(Protocol):
    """Whether a person lets oO do something now (the profile module keeps the answers)."""

    async def granted(self, uow: UnitOfWork, user_id: str, purpose: ConsentPurpose) -> bool:
        """The latest answer for `purpose`, or the deployment's default when there is none."""
        ...


class IntegrationData(Protocol):
    """What oO derived from an integration for a person (the integrations module implements it)."""

    async def forget(self, uow: UnitOfWork, user_id: str, integration: str) -> None:
        """Erase everything derived from `integration` for the person, in the caller's transaction: the
        person withdrew their consent to it, and this runs in the transaction that records that."""
        ...


class TaskTitles(Protocol):
    """The titles of a person's provider tasks, for the answer being sent (ADR 0023): from memory, or
    from the provider, never from storage."""

    async def titles(self, user_id: str, task_ids: Sequence[str]) -> dict[str, str]:
        """A title for each id asked; a task whose title cannot be had now gets words that say what it is."""
        ...


class PersonConnections(Protocol):
    """A person's connections to providers, for "what oO knows about me" (the integrations module)."""

    async def statuses(self, uow: UnitOfWork, user_id: str) -> Integrations: ...

    async def disconnect(self, uow: UnitOfWork, user_id: str, provider: str) -> None:
        """Delete the grant and everything derived from the provider, in the caller's transaction (the
        revocation at the provider follows the commit); 404 `not_connected` when there is none."""
        ...


class ConsentStates(Protocol):
    """Where each of a person's consents stands (the profile module keeps the answers)."""

    async def states(self, uow: UnitOfWork, user_id: str) -> Consents: ...
