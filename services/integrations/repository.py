"""All SQL of the integrations module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from services.integrations.tables import integrations_connections as connections
from services.kernel.unit_of_work import UnitOfWork

_KEY = (connections.c.user_id, connections.c.provider)


class ConnectionRepository:
    async def upsert(
        self,
        uow: UnitOfWork,
        *,
        user_id: str,
        provider: str,
        sealed: SealedTokens,
        expires_at: datetime | None,
        scopes: Sequence[str],
        now: datetime,
        account_id: str | None = None,
    ) -> None:
        """The person's connection to the provider, made or made anew: the primary key decides which,
        never a read before the write (ADR 0018)."""
        insert = (postgresql.insert if uow.dialect == "postgresql" else sqlite.insert)(connections)
        statement = insert.values(
            user_id=user_id,
            provider=provider,
            **sealed.columns(),
            token_expires_at=expires_at,
            scopes=list(scopes),
            status="connected",
            connected_at=now,
            updated_at=now,
            account_id=account_id,
            last_synced_at=None,
            sync_error=None,
        )
        replaced = {
            name: statement.excluded[name]
            for name in (
                *SealedTokens.COLUMNS,
                "token_expires_at",
                "scopes",
                "status",
                "connected_at",
                "updated_at",
                "account_id",
                "last_synced_at",
                "sync_error",
            )
        }
        await uow.connection.execute(
            statement.on_conflict_do_update(index_elements=["user_id", "provider"], set_=replaced)
        )

    async def replace_tokens(
        self,
        uow: UnitOfWork,
        *,
        user_id: str,
        provider: str,
        sealed: SealedTokens,
        expires_at: datetime | None,
        scopes: Sequence[str],
        now: datetime,
    ) -> bool:
        result = await uow.connection.execute(
            update(connections)
            .where(connections.c.user_id == user_id, connections.c.provider == provider)
            .values(**sealed.columns(), token_expires_at=expires_at, scopes=list(scopes), updated_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def connection(self, uow: UnitOfWork, user_id: str, provider: str) -> Row[Any] | None:
        query = select(connections).where(connections.c.user_id == user_id, connections.c.provider == provider)
        return (await uow.connection.execute(query)).first()

    async def connections_of(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        query = select(connections).where(connections.c.user_id == user_id).order_by(connections.c.provider)
        return list((await uow.connection.execute(query)).all())

    async def people_with_account(self, uow: UnitOfWork, provider: str, account_id: str) -> list[str]:
        query = select(connections.c.user_id).where(
            connections.c.provider == provider, connections.c.account_id == account_id
        )
        return list((await uow.connection.execute(query)).scalars().all())

    async def connected_people(self, uow: UnitOfWork, provider: str) -> list[str]:
        query = select(connections.c.user_id).where(
            connections.c.provider == provider, connections.c.status == "connected"
        )
        return list((await uow.connection.execute(query.order_by(connections.c.user_id))).scalars().all())

    async def set_status(self, uow: UnitOfWork, user_id: str, provider: str, status: str, now: datetime) -> bool:
        result = await uow.connection.execute(
            update(connections)
            .where(connections.c.user_id == user_id, connections.c.provider == provider)
            .values(status=status, updated_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def record_sync(self, uow: UnitOfWork, user_id: str, provider: str, error: str | None, now: datetime) -> bool:
        values: dict[str, object] = {"sync_error": error}
        if error is None:
            values["last_synced_at"] = now
        result = await uow.connection.execute(
            update(connections)
            .where(connections.c.user_id == user_id, connections.c.provider == provider)
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    async def delete(self, uow: UnitOfWork, user_id: str, provider: str) -> Row[Any] | None:
        """Delete the connection; the row as it was deleted (its tokens, for the revoke), or None."""
        statement = (
            delete(connections)
            .where(connections.c.user_id == user_id, connections.c.provider == provider)
            .returning(*connections.c)
        )
        return (await uow.connection.execute(statement)).first()

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        """Delete every connection of the person (a handful: one per provider); the rows as deleted."""
        statement = delete(connections).where(connections.c.user_id == user_id).returning(*connections.c)
        return list((await uow.connection.execute(statement)).all())

    async def count_by_key(self, uow: UnitOfWork) -> dict[str, int]:
        query = select(connections.c.key_id, func.count()).group_by(connections.c.key_id)
        return {key_id: int(count) for key_id, count in (await uow.connection.execute(query)).all()}

    async def not_under_key(
        self, uow: UnitOfWork, key_id: str, after: tuple[str, ...] | None, limit: int
    ) -> list[Row[Any]]:
        query = select(*_KEY, *(connections.c[name] for name in SealedTokens.COLUMNS)).where(
            connections.c.key_id != key_id
        )
        if after is not None:
            query = query.where(tuple_(*_KEY) > tuple_(*after))
        query = query.order_by(*_KEY).limit(limit)
        return list((await uow.connection.execute(query)).all())

    async def reseal(self, uow: UnitOfWork, user_id: str, provider: str, was: SealedTokens, now: SealedTokens) -> bool:
        """Put the re-sealed tokens in place only if the row still holds what was read: a write made
        meanwhile sealed fresh values with fresh nonces, so an unchanged access token means no write."""
        result = await uow.connection.execute(
            update(connections)
            .where(
                connections.c.user_id == user_id,
                connections.c.provider == provider,
                connections.c.access_token_sealed == was.access_token_sealed,
            )
            .values(**now.columns())
        )
        return bool(getattr(result, "rowcount", 0))


@dataclass(frozen=True)
class SealedTokens:
    """A row's tokens as stored: vault envelopes, both sealed under `key_id`, and always written together."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("key_id", "access_token_sealed", "refresh_token_sealed")

    key_id: str
    access_token_sealed: str
    refresh_token_sealed: str | None

    @classmethod
    def of(cls, row: Row[Any]) -> SealedTokens:
        return cls(row.key_id, row.access_token_sealed, row.refresh_token_sealed)

    def columns(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in self.COLUMNS}
