"""The events module's facade: what the composition root wires and other modules may be handed."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from prometheus_client import CollectorRegistry

from services.events.admin_routes import AdminLink, build_admin_router
from services.events.bus import ALL_TYPES, Bus, Handler, TransactionalHandler
from services.events.forgetting import ProviderErasure
from services.events.jetstream import JetStreamLink
from services.events.mirror_watch import MirrorWatch
from services.events.relay import OutboxRelay
from services.events.repository import EventStoreRepository
from services.events.routes import build_router
from services.events.service import IngestService, UserEvents
from services.events.settings import EventsSettings, RelaySettings
from services.events.watch import EventSource, EventWatch
from services.kernel.database import Database
from services.kernel.ports import ConsentCheck

__all__ = ["ALL_TYPES", "EventsModule", "Handler", "JetStreamLink", "OutboxRelay", "TransactionalHandler"]


class EventsModule:
    """Ingress, the in-process bus and the durable signal store (the outbox)."""

    def __init__(self, settings: EventsSettings, consents: ConsentCheck, relay: RelaySettings | None = None) -> None:
        self._settings = settings
        self._relay_settings = relay or RelaySettings()
        # The JetStream mirror (ADR 0031), when NATS_URL is set: connected on first use only.
        self.jetstream = JetStreamLink(self._relay_settings) if self._relay_settings.nats_url else None
        store = EventStoreRepository()
        self.bus = Bus(store, recent_buffer_size=settings.recent_buffer_size)
        self.user_data = UserEvents(store, self.bus)
        # The viewer reads the mirror when there is one (ADR 0033): there every api process's events meet.
        self.watch: EventSource = (
            EventWatch(self.bus)
            if self.jetstream is None
            else MirrorWatch(self.jetstream, window=max(settings.recent_buffer_size, 1))
        )
        self.bus.project(ProviderErasure(self.bus))
        self._ingest = IngestService(
            self.bus, store, consents, max_future_skew=timedelta(seconds=settings.max_future_skew_seconds)
        )

    def router(self) -> APIRouter:
        router = build_router(self._ingest)
        links = [
            AdminLink(name=name, url=url)
            for name, url in (("MLflow", self._settings.mlflow_ui_url), ("Pipelines", self._settings.pipelines_ui_url))
            if url is not None
        ]
        router.include_router(build_admin_router(self.watch, links))
        return router

    def relay(self, database: Database, registry: CollectorRegistry) -> OutboxRelay | None:
        """The outbox relay the worker runs, or None without NATS_URL (events stay in the store)."""
        if self.jetstream is None:
            return None
        return OutboxRelay(database, self.jetstream, self._relay_settings, registry)

    async def close(self) -> None:
        if self.jetstream is not None:
            await self.jetstream.close()
