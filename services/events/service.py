"""Use cases of the events module: ingest a client's batch, export and erase a user's events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from oo_contracts.consents import ConsentPurpose
from oo_contracts.errors import ItemProblem
from oo_contracts.events import (
    CONSENT_EVENT_TYPES,
    BatchResult,
    ConsentSet,
    EventBatch,
    EventEnvelope,
    schema_version_of,
)
from oo_contracts.export import EventsSection
from oo_contracts.identity import Principal, Scope
from services.events.bus import Bus
from services.events.repository import EventStoreRepository
from services.kernel.errors import Conflict, Forbidden, Unprocessable
from services.kernel.ports import ConsentCheck
from services.kernel.unit_of_work import UnitOfWork


class IngestService:
    def __init__(
        self, bus: Bus, store: EventStoreRepository, consents: ConsentCheck, *, max_future_skew: timedelta
    ) -> None:
        self._bus = bus
        self._store = store
        self._consents = consents
        self._max_future_skew = max_future_skew

    async def ingest(self, uow: UnitOfWork, principal: Principal, batch: EventBatch) -> BatchResult:
        """Store a batch all or nothing; a replayed event is reported, not stored twice."""
        now = datetime.now(UTC)
        self._reject_invalid_items(batch, now)
        await self._reject_without_consent(uow, principal, batch)
        # Already validated field by field as IncomingEvent: construct, do not validate twice.
        envelopes = [
            EventEnvelope.model_construct(
                id=item.id,
                type=item.type,
                user_id=principal.user_id,
                occurred_at=item.occurred_at.astimezone(UTC),
                source=item.source,
                schema_version=schema_version_of(item.type),
                payload=item.payload.model_dump(mode="json"),
            )
            for item in batch.events
        ]
        result = await self._bus.publish(uow, envelopes)
        if result.already_known:
            # Raising rolls the whole batch back, inserted rows and their dispatch included.
            await self._reject_clashes(uow, principal.user_id, envelopes, set(result.already_known))
        return result

    def _reject_invalid_items(self, batch: EventBatch, now: datetime) -> None:
        problems: list[ItemProblem] = []
        first_index: dict[object, int] = {}
        latest = now + self._max_future_skew
        for index, item in enumerate(batch.events):
            if item.id in first_index:
                problems.append(
                    ItemProblem(
                        index=index,
                        id=str(item.id),
                        field="id",
                        problem=f"the same id appears at index {first_index[item.id]} of this batch",
                    )
                )
            first_index.setdefault(item.id, index)
            if item.occurred_at > latest:
                problems.append(
                    ItemProblem(
                        index=index,
                        id=str(item.id),
                        field="occurred_at",
                        problem=f"lies more than {int(self._max_future_skew.total_seconds())} s in the future",
                    )
                )
        if problems:
            raise Unprocessable("the batch was rejected; nothing was stored", code="invalid_batch", items=problems)

    async def _reject_without_consent(self, uow: UnitOfWork, principal: Principal, batch: EventBatch) -> None:
        """A consent is answered only with the scope for it; and a signal is stored only while the person
        lets oO process their signals (`core`), as it stands at that signal: a batch may grant core before
        its signals, and withdraw it after them (ADR 0022)."""
        answers = [index for index, item in enumerate(batch.events) if item.type in CONSENT_EVENT_TYPES]
        if answers and not principal.allows(Scope.consents_write):
            raise Forbidden(
                f"answering a consent needs the scope {Scope.consents_write.value!r}", code="insufficient_scope"
            )
        if len(answers) == len(batch.events):
            return  # answers alone: they are how core is granted again
        core = await self._consents.granted(uow, principal.user_id, ConsentPurpose.core)
        problems: list[ItemProblem] = []
        for index, item in enumerate(batch.events):
            if isinstance(item.payload, ConsentSet) and item.payload.purpose is ConsentPurpose.core:
                core = item.payload.granted
            elif item.type not in CONSENT_EVENT_TYPES and not core:
                problems.append(
                    ItemProblem(
                        index=index,
                        id=str(item.id),
                        field="type",
                        problem="you withdrew (or never granted) consent to oO processing your signals "
                        "(purpose `core`): grant it to send signals again",
                    )
                )
        if problems:
            raise Conflict("the batch was rejected; nothing was stored", code="consent_required", items=problems)

    async def _reject_clashes(
        self, uow: UnitOfWork, user_id: str, envelopes: list[EventEnvelope], known: set[UUID]
    ) -> None:
        """A known id is a replay only if it carries the same content (ids are unique per person)."""
        stored = await self._store.facts_by_id(uow, user_id, list(known))
        problems = []
        for index, event in enumerate(envelopes):
            fact = stored.get(event.id)
            if fact is None:
                continue
            same = (
                fact.user_id == event.user_id
                and fact.type == event.type
                and fact.occurred_at == event.occurred_at
                and fact.payload == event.payload
            )
            if not same:
                problems.append(
                    ItemProblem(
                        index=index,
                        id=str(event.id),
                        field="id",
                        problem="you already stored this id with different content; your event ids must be unique",
                    )
                )
        if problems:
            raise Conflict("the batch was rejected; nothing was stored", code="event_id_conflict", items=problems)


class UserEvents:
    """The events module as a UserDataOwner: export and erase one user's events."""

    section = "events"
    tables: tuple[str, ...] = ("events_store",)

    def __init__(self, store: EventStoreRepository, bus: Bus) -> None:
        self._store = store
        self._bus = bus

    async def export_user(self, uow: UnitOfWork, user_id: str) -> EventsSection:
        return EventsSection(events=await self._store.for_user(uow, user_id))

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> bool:
        if not await self._store.erase_user(uow, user_id):
            return False
        uow.after_commit(lambda: self._bus.forget_user(user_id))
        return True
