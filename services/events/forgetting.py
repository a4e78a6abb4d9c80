"""A provider forgotten takes its derived events with it.

When a person disconnects a provider (or withdraws its permission), the integration publishes
`integrations.provider_forgotten.v1`. In that same transaction this projection deletes the events that
carried what was read there — each task's ids, due, duration and priority, each calendar's busy
blocks — so that neither the store nor an export keeps a copy of what oO "forgot". The forgetting
event itself stays: it is the record that the person asked, and it carries nothing read. Those events
already mirrored to JetStream leave the stream when the relay publishes the forgetting (`relay.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import and_, delete, or_

from oo_contracts.events import EventEnvelope, ProviderForgotten
from services.events.bus import Bus
from services.events.tables import events_store
from services.kernel.unit_of_work import UnitOfWork

FORGOTTEN = "integrations.provider_forgotten.v1"
# What a provider's reads publish, and the payload field that names the provider.
DERIVED = {
    "integrations.task_synced.v1": "provider",
    "integrations.task_removed.v1": "provider",
    "integrations.busy_synced.v1": "calendar",
}


class ProviderErasure:
    """A bus projection: runs in the transaction that stores the forgetting."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def __call__(self, uow: UnitOfWork, events: list[EventEnvelope]) -> None:
        for event in events:
            if event.type != FORGOTTEN:
                continue
            provider = ProviderForgotten.model_validate(event.payload).provider
            derived = or_(
                *(
                    and_(events_store.c.type == kind, events_store.c.payload[field].as_string() == provider)
                    for kind, field in DERIVED.items()
                )
            )
            await uow.connection.execute(delete(events_store).where(events_store.c.user_id == event.user_id, derived))
            uow.after_commit(self._forget_recent(event.user_id, provider))

    def _forget_recent(self, user_id: str, provider: str) -> Callable[[], Awaitable[None]]:
        def derived(event: EventEnvelope) -> bool:
            field = DERIVED.get(event.type)
            return event.user_id == user_id and field is not None and event.payload.get(field) == provider

        async def forget() -> None:
            self._bus.forget_matching(derived)

        return forget
