"""All SQL of the calendar connectors: the last published blocks' hash, and Google authorizations under way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Row

from services.integrations.tables import integrations_connections as connections
from services.integrations.tables import integrations_oauth_states as states
from services.kernel.unit_of_work import UnitOfWork


class CalendarRepository:
    async def fingerprint(self, uow: UnitOfWork, user_id: str, provider: str) -> str | None:
        query = select(connections.c.busy_fingerprint).where(
            connections.c.user_id == user_id, connections.c.provider == provider
        )
        return (await uow.connection.execute(query)).scalar_one_or_none()

    async def set_fingerprint(self, uow: UnitOfWork, user_id: str, provider: str, value: str | None) -> None:
        await uow.connection.execute(
            update(connections)
            .where(connections.c.user_id == user_id, connections.c.provider == provider)
            .values(busy_fingerprint=value)
        )

    async def connected(
        self, uow: UnitOfWork, providers: Sequence[str], user_id: str | None = None
    ) -> list[tuple[str, str]]:
        """Every (person, provider) connection of these providers that works (of one person, if given),
        for the scheduled refresh."""
        query = (
            select(connections.c.user_id, connections.c.provider)
            .where(connections.c.provider.in_(providers), connections.c.status == "connected")
            .order_by(connections.c.user_id, connections.c.provider)
        )
        if user_id is not None:
            query = query.where(connections.c.user_id == user_id)
        return [(row.user_id, row.provider) for row in (await uow.connection.execute(query)).all()]

    async def add_state(self, uow: UnitOfWork, **values: Any) -> None:
        await uow.connection.execute(states.insert().values(**values))

    async def take_state(self, uow: UnitOfWork, state_hash: str) -> Row[Any] | None:
        """The authorization's row, deleted as it is read: a state is used at most once, whoever is first."""
        statement = delete(states).where(states.c.state_hash == state_hash).returning(*states.c)
        return (await uow.connection.execute(statement)).first()

    async def drop_expired_states(self, uow: UnitOfWork, now: datetime) -> None:
        await uow.connection.execute(delete(states).where(states.c.expires_at <= now))

    async def states_of(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        query = select(states).where(states.c.user_id == user_id).order_by(states.c.created_at)
        return list((await uow.connection.execute(query)).all())

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> None:
        await uow.connection.execute(delete(states).where(states.c.user_id == user_id))
