"""The operator's view of events as they happen: the recent events, then each new event, for
`GET /v1/admin/events` and its Server-Sent Events stream. What a person wrote in their own words (a
task's title, a habit's name, free text) is never shown: those values are replaced by their length.

Where the events come from is an `EventSource`: this process's bus (`EventWatch`, the embedded
default), or the JetStream mirror every process's events reach (`mirror_watch.MirrorWatch`, ADR 0033).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

from oo_contracts.events import EventEnvelope
from services.events.bus import ALL_TYPES, Bus

# Payload fields that hold a person's own words. Everything else in an envelope is ids, times, numbers
# and names from oO's vocabulary.
OWN_WORDS = frozenset({"title", "name", "text", "content", "note", "description"})
QUEUE_LIMIT = 1000  # a watcher that cannot keep up loses the oldest it has not read, never the bus's time


class WatchedEvent(BaseModel):
    """An event as the operator sees it: its envelope, the person's own words replaced."""

    id: str
    type: str
    user_id: str
    occurred_at: datetime
    source: str
    payload: dict[str, Any] = Field(description="The payload, each field of a person's own words as `[N chars]`.")


def watched(event: EventEnvelope) -> WatchedEvent:
    return WatchedEvent(
        id=str(event.id),
        type=event.type,
        user_id=event.user_id,
        occurred_at=event.occurred_at,
        source=event.source,
        payload=_without_own_words(event.payload),
    )


def _without_own_words(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _without_own_words(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_own_words(v, key) for v in value]
    if key in OWN_WORDS and isinstance(value, str):
        return f"[{len(value)} chars]"
    return value


@dataclass(frozen=True)
class EventFilter:
    """The viewer's filters: an event type, a person, or neither."""

    type: str | None = None
    user_id: str | None = None

    def matches(self, event: EventEnvelope) -> bool:
        same_type = self.type is None or event.type == self.type
        return same_type and (self.user_id is None or event.user_id == self.user_id)


class EventSource(Protocol):
    """Where the viewer reads events. Either method raises `Unavailable` (`events_unavailable`) when the
    source cannot be read right now, before anything is returned."""

    async def recent(self, only: EventFilter, limit: int) -> list[EventEnvelope]:
        """The newest `limit` events that match, the newest first."""
        ...

    def watching(self, only: EventFilter, recent: int) -> AbstractAsyncContextManager[AsyncIterator[EventEnvelope]]:
        """The newest `recent` events that match, oldest first, then each new one as it is stored, for as
        long as the block lasts."""
        ...


def bounded_put(queue: asyncio.Queue[EventEnvelope], event: EventEnvelope) -> None:
    """Into a watcher's bounded queue: one that cannot keep up loses its oldest unread event."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)


async def recent_then_live(
    backlog: list[EventEnvelope], queue: asyncio.Queue[EventEnvelope], only: EventFilter
) -> AsyncIterator[EventEnvelope]:
    """`backlog` (newest first) oldest first, then what arrives in `queue` that matches."""
    for event in reversed(backlog):
        yield event
    while True:
        event = await queue.get()
        if only.matches(event):
            yield event


class EventWatch:
    """The events of this process's bus: its recent-events buffer, and watchers of the bus, each with its
    own bounded queue, for as long as it watches. In the embedded default every event is stored here."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._queues: set[asyncio.Queue[EventEnvelope]] = set()
        bus.subscribe(ALL_TYPES, self._deliver)

    async def recent(self, only: EventFilter, limit: int) -> list[EventEnvelope]:
        return [event for event in self._bus.recent(None) if only.matches(event)][:limit]

    @asynccontextmanager
    async def watching(self, only: EventFilter, recent: int) -> AsyncIterator[AsyncIterator[EventEnvelope]]:
        queue: asyncio.Queue[EventEnvelope] = asyncio.Queue(QUEUE_LIMIT)
        # Listening before the buffer is read: an event stored in between is shown (perhaps twice), never lost.
        self._queues.add(queue)
        try:
            yield recent_then_live(await self.recent(only, recent), queue, only)
        finally:
            self._queues.discard(queue)

    async def _deliver(self, event: EventEnvelope) -> None:
        for queue in list(self._queues):
            bounded_put(queue, event)
