"""The operator's view of events as they happen: the recent-events buffer, then each new event, for
`GET /v1/admin/events` and its Server-Sent Events stream. What a person wrote in their own words (a
task's title, a habit's name, free text) is never shown: those values are replaced by their length."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

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


def matching(event_type: str | None, user_id: str | None) -> Callable[[EventEnvelope], bool]:
    def matches(event: EventEnvelope) -> bool:
        return (event_type is None or event.type == event_type) and (user_id is None or event.user_id == user_id)

    return matches


class EventWatch:
    """Watchers of the bus, each with its own bounded queue, for as long as it watches."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._queues: set[asyncio.Queue[EventEnvelope]] = set()
        bus.subscribe(ALL_TYPES, self._deliver)

    def recent(self, matches: Callable[[EventEnvelope], bool], limit: int) -> list[EventEnvelope]:
        """The newest first."""
        return [event for event in self._bus.recent(None) if matches(event)][:limit]

    @asynccontextmanager
    async def watching(self) -> AsyncIterator[asyncio.Queue[EventEnvelope]]:
        queue: asyncio.Queue[EventEnvelope] = asyncio.Queue(QUEUE_LIMIT)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def _deliver(self, event: EventEnvelope) -> None:
        for queue in list(self._queues):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
