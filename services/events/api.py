"""The events module's facade: what the composition root wires and other modules may be handed."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from services.events.bus import ALL_TYPES, Bus, Handler, TransactionalHandler
from services.events.forgetting import ProviderErasure
from services.events.repository import EventStoreRepository
from services.events.routes import build_router
from services.events.service import IngestService, UserEvents
from services.events.settings import EventsSettings
from services.kernel.ports import ConsentCheck

__all__ = ["ALL_TYPES", "EventsModule", "Handler", "TransactionalHandler"]


class EventsModule:
    """Ingress, the in-process bus and the durable signal store (the outbox)."""

    def __init__(self, settings: EventsSettings, consents: ConsentCheck) -> None:
        store = EventStoreRepository()
        self.bus = Bus(store, recent_buffer_size=settings.recent_buffer_size)
        self.user_data = UserEvents(store, self.bus)
        self.bus.project(ProviderErasure(self.bus))
        self._ingest = IngestService(
            self.bus, store, consents, max_future_skew=timedelta(seconds=settings.max_future_skew_seconds)
        )

    def router(self) -> APIRouter:
        return build_router(self._ingest)
