"""All SQL of the events module."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from sqlalchemy import BigInteger, ColumnElement, Text, any_, bindparam, cast, delete, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from oo_contracts.events import EventEnvelope
from services.events.tables import events_outbox, events_store
from services.kernel.ports import ERASE_CHUNK_ROWS
from services.kernel.unit_of_work import UnitOfWork

_ERASE_CHUNK = delete(events_store).where(
    events_store.c.seq.in_(
        select(events_store.c.seq).where(events_store.c.user_id == bindparam("user_id")).limit(bindparam("chunk"))
    )
)


@dataclass(frozen=True)
class StoredFact:
    """What identifies an event's content, for telling a replay from a clash."""

    user_id: str
    type: str
    occurred_at: datetime
    payload: dict[str, Any]


class EventStoreRepository:
    async def facts_by_id(self, uow: UnitOfWork, user_id: str, ids: Sequence[UUID]) -> dict[UUID, StoredFact]:
        """What `user_id` stored under these ids; another person's events under the same ids are theirs."""
        if not ids:
            return {}
        query = select(
            events_store.c.event_id,
            events_store.c.user_id,
            events_store.c.type,
            events_store.c.occurred_at,
            events_store.c.payload,
        ).where(events_store.c.user_id == user_id, events_store.c.event_id.in_(ids))
        rows = (await uow.connection.execute(query)).all()
        return {row.event_id: StoredFact(row.user_id, row.type, row.occurred_at, row.payload) for row in rows}

    async def append(
        self, uow: UnitOfWork, events: Sequence[EventEnvelope], recorded_at: datetime
    ) -> set[tuple[str, UUID]]:
        """Insert what is new, each with its outbox entry; return the (user id, event id) pairs actually
        inserted (a concurrent replay inserts nothing). An event id is unique per person (ADR 0018).

        The hot path of ingestion: one statement per batch on the driver's own connection, inside the
        caller's transaction. SQLAlchemy Core spent ~80% of a batch's time here binding row by row
        (bench/ingest.py); the statement is the same, only the binding is the driver's.
        """
        if not events:
            return set()
        driver = (await uow.connection.get_raw_connection()).driver_connection
        if uow.dialect == "postgresql":
            return await _append_postgres(driver, events, recorded_at)
        return await _append_sqlite(driver, events, recorded_at)

    async def for_user(self, uow: UnitOfWork, user_id: str) -> list[EventEnvelope]:
        query = (
            select(events_store)
            .where(events_store.c.user_id == user_id)
            .order_by(events_store.c.occurred_at, events_store.c.seq)
        )
        rows = (await uow.connection.execute(query)).all()
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

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> bool:
        """At most `ERASE_CHUNK_ROWS` of the user's events; True once none is left."""
        result = await uow.connection.execute(_ERASE_CHUNK, {"user_id": user_id, "chunk": ERASE_CHUNK_ROWS})
        return bool(getattr(result, "rowcount", 0) < ERASE_CHUNK_ROWS)


# One statement: the events, and the outbox entry of each one actually inserted.
_PG_APPEND = """
WITH inserted AS (
    INSERT INTO events_store (event_id, type, user_id, occurred_at, source, schema_version, payload, recorded_at)
    SELECT e.*, $8::timestamptz
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::int2[], $7::jsonb[]) AS e
    ON CONFLICT (user_id, event_id) DO NOTHING
    RETURNING seq, user_id, event_id
), queued AS (
    INSERT INTO events_outbox (seq) SELECT seq FROM inserted
)
SELECT user_id, event_id FROM inserted
"""


async def _append_postgres(
    driver: Any, events: Sequence[EventEnvelope], recorded_at: datetime
) -> set[tuple[str, UUID]]:
    rows = await driver.fetch(
        _PG_APPEND,
        [e.id for e in events],
        [e.type for e in events],
        [e.user_id for e in events],
        [e.occurred_at for e in events],
        [e.source for e in events],
        [e.schema_version for e in events],
        [json.dumps(e.payload) for e in events],
        recorded_at,
    )
    return {(row[0], row[1]) for row in rows}


_SQLITE_ROWS_PER_STATEMENT = 1000  # 8 parameters a row, far under SQLite's 32,766


_SQLITE_APPEND = (
    "INSERT INTO events_store (event_id, type, user_id, occurred_at, recorded_at, source, schema_version, payload) "
    "VALUES {values} ON CONFLICT (user_id, event_id) DO NOTHING RETURNING seq, user_id, event_id"
)
_SQLITE_QUEUE = "INSERT INTO events_outbox (seq) VALUES {values}"


def _sqlite_time(moment: datetime) -> str:
    # The text SQLAlchemy's SQLite DateTime writes for a UTC moment (see kernel.schema.UtcDateTime).
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def _append_sqlite(driver: Any, events: Sequence[EventEnvelope], recorded_at: datetime) -> set[tuple[str, UUID]]:
    inserted: set[tuple[str, UUID]] = set()
    recorded = _sqlite_time(recorded_at)
    for start in range(0, len(events), _SQLITE_ROWS_PER_STATEMENT):
        chunk = events[start : start + _SQLITE_ROWS_PER_STATEMENT]
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
        parameters: list[Any] = []
        for e in chunk:
            parameters += [
                e.id.hex,
                e.type,
                e.user_id,
                _sqlite_time(e.occurred_at),
                recorded,
                e.source,
                e.schema_version,
                json.dumps(e.payload),
            ]
        statement = _SQLITE_APPEND.format(values=values)
        cursor = await driver.execute(statement, parameters)
        rows = await cursor.fetchall()
        await cursor.close()
        if rows:
            queue = _SQLITE_QUEUE.format(values=", ".join(["(?)"] * len(rows)))
            await (await driver.execute(queue, [row[0] for row in rows])).close()
        inserted.update((row[1], UUID(row[2])) for row in rows)
    return inserted


class OutboxRow(NamedTuple):
    """An event not yet mirrored to JetStream, as the relay publishes it (a tuple: the relay makes
    thousands a second, and a frozen dataclass costs several times more to make)."""

    seq: int
    user_id: str
    type: str
    event_id: str
    envelope: bytes  # the EventEnvelope's JSON


def _envelope_in_postgres() -> ColumnElement[Any]:
    """The EventEnvelope's JSON, as `EventEnvelope.model_dump_json` would write it up to spacing; the
    moment in UTC with an explicit offset, whatever the session's time zone."""
    return func.json_build_object(
        "id",
        events_store.c.event_id,
        "type",
        events_store.c.type,
        "user_id",
        events_store.c.user_id,
        "occurred_at",
        func.to_char(func.timezone("UTC", events_store.c.occurred_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        "source",
        events_store.c.source,
        "schema_version",
        events_store.c.schema_version,
        "payload",
        events_store.c.payload,
    )


class OutboxRepository:
    """The relay's queue (ADR 0034): the events whose `events_outbox` entry is still there, in `seq` order,
    and the entries deleted once published."""

    async def pending(self, uow: UnitOfWork, limit: int, *, claim: bool) -> list[OutboxRow]:
        """The oldest pending events. With `claim` (Postgres), their entries stay locked until the
        transaction ends: a concurrent relay skips them rather than waiting or publishing them too, and
        an erasure of those events waits for the batch."""
        oldest = select(events_outbox.c.seq).order_by(events_outbox.c.seq).limit(limit)
        if claim:
            oldest = oldest.with_for_update(skip_locked=True)
        claimed = oldest.cte("claimed")
        if uow.dialect == "postgresql":
            # Postgres writes the envelope, on its own core: the relay's Python is what bounds the relay.
            query = (
                select(
                    events_store.c.seq,
                    events_store.c.user_id,
                    events_store.c.type,
                    cast(events_store.c.event_id, Text).label("event_id"),
                    cast(_envelope_in_postgres(), Text).label("envelope"),
                )
                .join(claimed, claimed.c.seq == events_store.c.seq)
                .order_by(events_store.c.seq)
            )
            return [
                OutboxRow(row.seq, row.user_id, row.type, row.event_id, row.envelope.encode())
                for row in await uow.connection.execute(query)
            ]
        query = (
            select(
                events_store.c.seq,
                events_store.c.event_id,
                events_store.c.type,
                events_store.c.user_id,
                events_store.c.occurred_at,
                events_store.c.source,
                events_store.c.schema_version,
                # As stored, never decoded: it goes into the envelope as it is.
                cast(events_store.c.payload, Text).label("payload"),
            )
            .join(claimed, claimed.c.seq == events_store.c.seq)
            .order_by(events_store.c.seq)
        )
        return [
            OutboxRow(
                row.seq,
                row.user_id,
                row.type,
                str(row.event_id),
                # orjson writes the UTC moment as `isoformat()` would, and faster.
                orjson.dumps(
                    {
                        "id": str(row.event_id),
                        "type": row.type,
                        "user_id": row.user_id,
                        "occurred_at": row.occurred_at,
                        "source": row.source,
                        "schema_version": row.schema_version,
                        "payload": orjson.Fragment(row.payload),
                    }
                ),
            )
            for row in await uow.connection.execute(query)
        ]

    async def relayed(self, uow: UnitOfWork, seqs: Sequence[int]) -> set[int]:
        """Take these events off the queue; returns those that still exist. The others were erased
        meanwhile, their entries with them. An entry already gone whose event is still there was
        taken off by another relay that published the same event (SQLite reads without claiming)."""
        if not seqs:
            return set()
        if uow.dialect == "postgresql":  # one array parameter, not 500 bound one by one
            on_queue = events_outbox.c.seq == any_(bindparam("seqs", list(seqs), type_=ARRAY(BigInteger)))
        else:
            on_queue = events_outbox.c.seq.in_(seqs)
        statement = delete(events_outbox).where(on_queue).returning(events_outbox.c.seq)
        kept = set((await uow.connection.execute(statement)).scalars())
        if missing := [seq for seq in seqs if seq not in kept]:
            still = select(events_store.c.seq).where(events_store.c.seq.in_(missing))
            kept.update((await uow.connection.execute(still)).scalars())
        return kept

    async def vacuum(self, uow: UnitOfWork) -> None:
        """Postgres: clear the entries deleted from the queue out of its table and index now. `uow` must
        be outside a transaction (`Database.transaction(write=False)`); VACUUM cannot run inside one."""
        await uow.connection.execute(text("VACUUM (SKIP_LOCKED) events_outbox"))

    async def oldest_pending_at(self, uow: UnitOfWork) -> datetime | None:
        """When the oldest pending event was recorded; None when the queue is empty."""
        oldest = select(events_outbox.c.seq).order_by(events_outbox.c.seq).limit(1).scalar_subquery()
        query = select(events_store.c.recorded_at).where(events_store.c.seq == oldest)
        moment: datetime | None = (await uow.connection.execute(query)).scalar()
        return moment
