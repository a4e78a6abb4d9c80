"""The in-process bus every publish goes through.

publish() writes the events to the store inside the caller's transaction (the outbox) and, once
that transaction commits, dispatches them to subscribers and to the recent-events ring buffer.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import structlog

from oo_contracts.events import BatchResult, EventEnvelope
from services.events.repository import EventStoreRepository
from services.kernel.unit_of_work import UnitOfWork

Handler = Callable[[EventEnvelope], Awaitable[None]]
# Runs inside the publishing transaction: its writes commit or roll back with the events themselves.
TransactionalHandler = Callable[[UnitOfWork, list[EventEnvelope]], Awaitable[None]]
ALL_TYPES = "*"

log = structlog.get_logger(__name__)


class Bus:
    def __init__(self, store: EventStoreRepository, *, recent_buffer_size: int) -> None:
        self._store = store
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._recent: deque[EventEnvelope] = deque(maxlen=recent_buffer_size)
        self._projections: list[TransactionalHandler] = []

    def subscribe(self, event_type: str, handler: Handler) -> None:
        """Call `handler` after commit for each new event of `event_type` (or ALL_TYPES).

        Delivery is at least once: handlers must be idempotent by event id.
        """
        self._handlers[event_type].append(handler)

    def project(self, handler: TransactionalHandler) -> None:
        """Call `handler` with each publish's new events inside the publishing transaction.

        For state derived from events (a projection): exactly once per stored event, atomically with it.
        """
        self._projections.append(handler)

    async def publish(self, uow: UnitOfWork, events: Sequence[EventEnvelope]) -> BatchResult:
        inserted = await self._store.append(uow, events, recorded_at=datetime.now(UTC))
        new = [event for event in events if (event.user_id, event.id) in inserted]
        if new:
            for projection in self._projections:
                await projection(uow, new)
            uow.after_commit(lambda: self._dispatch(new))
        return BatchResult(
            stored=[event.id for event in new],
            already_known=[event.id for event in events if (event.user_id, event.id) not in inserted],
        )

    def recent(self, limit: int | None = 100) -> list[EventEnvelope]:
        """The newest dispatched events, newest first; all the buffer holds with `limit` None."""
        return list(reversed(self._recent))[:limit]

    async def forget_user(self, user_id: str) -> None:
        """Drop a deleted user's events from the in-memory buffer."""
        self.forget_matching(lambda event: event.user_id == user_id)

    def forget_matching(self, forgotten: Callable[[EventEnvelope], bool]) -> None:
        """Drop the events `forgotten` picks from the in-memory buffer."""
        kept = [event for event in self._recent if not forgotten(event)]
        self._recent.clear()
        self._recent.extend(kept)

    async def _dispatch(self, events: list[EventEnvelope]) -> None:
        self._recent.extend(events)
        for event in events:
            for handler in (*self._handlers.get(event.type, ()), *self._handlers.get(ALL_TYPES, ())):
                try:
                    await handler(event)
                except Exception:
                    log.exception("event_handler_failed", event_id=str(event.id), event_type=event.type)
