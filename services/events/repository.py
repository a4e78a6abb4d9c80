"""All SQL of the events module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from oo_contracts.events import EventEnvelope
from services.events.tables import events_store
from services.kernel.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class StoredFact:
    """What identifies an event's content, for telling a replay from a clash."""

    user_id: str
    type: str
    occurred_at: datetime
    payload: dict[str, Any]


class EventStoreRepository:
    async def facts_by_id(self, uow: UnitOfWork, ids: Sequence[UUID]) -> dict[UUID, StoredFact]:
        if not ids:
            return {}
        query = select(
            events_store.c.event_id,
            events_store.c.user_id,
            events_store.c.type,
            events_store.c.occurred_at,
            events_store.c.payload,
        ).where(events_store.c.event_id.in_(ids))
        rows = (await uow.session.execute(query)).all()
        return {row.event_id: StoredFact(row.user_id, row.type, row.occurred_at, row.payload) for row in rows}

    async def append(self, uow: UnitOfWork, events: Sequence[EventEnvelope], recorded_at: datetime) -> set[UUID]:
        """Insert what is new; return the ids actually inserted (a concurrent replay inserts nothing)."""
        if not events:
            return set()
        insert = postgresql.insert if uow.dialect == "postgresql" else sqlite.insert
        statement = (
            insert(events_store)
            .on_conflict_do_nothing(index_elements=[events_store.c.event_id])
            .returning(events_store.c.event_id)
        )
        rows = [
            {
                "event_id": event.id,
                "type": event.type,
                "user_id": event.user_id,
                "occurred_at": event.occurred_at,
                "recorded_at": recorded_at,
                "source": event.source,
                "schema_version": event.schema_version,
                "payload": event.payload,
            }
            for event in events
        ]
        result = await uow.session.execute(statement, rows)
        return set(result.scalars().all())

    async def for_user(self, uow: UnitOfWork, user_id: str) -> list[EventEnvelope]:
        query = (
            select(events_store)
            .where(events_store.c.user_id == user_id)
            .order_by(events_store.c.occurred_at, events_store.c.seq)
        )
        rows = (await uow.session.execute(query)).all()
        return [
            EventEnvelope(
                id=row.event_id,
                type=row.type,
                user_id=row.user_id,
                occurred_at=row.occurred_at,
                source=row.source,
                schema_version=row.schema_version,
                payload=row.payload,
            )
            for row in rows
        ]

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> None:
        await uow.session.execute(delete(events_store).where(events_store.c.user_id == user_id))
