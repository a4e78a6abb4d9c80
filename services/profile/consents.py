"""Consents as records (ADR 0022).

Every answer is an event, `profile.consent_set.v1` (the page posts it through its outbox; PUT
/v1/me/consents and `oo consents` publish it), and becomes a record in the transaction that stores
it: the history is append-only, and a purpose's state is its latest record. What was derived under a
purpose goes in that same transaction when it is withdrawn: here what an integration produced; the
recommender's own projection deletes what it holds (the LLM cache, the learned policy).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Row

from oo_contracts.consents import (
    ConsentHow,
    ConsentPurpose,
    ConsentRecord,
    Consents,
    ConsentState,
    ConsentsUpdate,
    current_version,
    integration_of,
    text_of,
)
from oo_contracts.events import CONSENT_EVENT_TYPES, ConsentSet, EventEnvelope, envelope
from oo_contracts.export import ConsentsSection
from services.kernel.ports import EventPublisher, IntegrationData
from services.kernel.unit_of_work import UnitOfWork
from services.profile.repository import ConsentRepository

LEGACY_LLM_EVENT = "profile.llm_processing_set.v1"


class ConsentRecords:
    """The answers as kept: the state of each purpose (a `ConsentCheck`), and the module's data owner
    for the history (exported whole, erased with the account)."""

    section = "consents"
    tables: tuple[str, ...] = ("profile_consents",)

    def __init__(self, repository: ConsentRepository, granted_by_default: frozenset[ConsentPurpose]) -> None:
        self._repository = repository
        self._defaults = granted_by_default

    async def granted(self, uow: UnitOfWork, user_id: str, purpose: ConsentPurpose) -> bool:
        answer = await self._repository.latest_answer(uow, user_id, purpose.value)
        return purpose in self._defaults if answer is None else answer

    async def states(self, uow: UnitOfWork, user_id: str) -> Consents:
        latest = {row.purpose: row for row in await self._repository.latest_answers(uow, user_id)}
        return Consents(consents=[self._state(purpose, latest.get(purpose.value)) for purpose in ConsentPurpose])

    def _state(self, purpose: ConsentPurpose, row: Row[Any] | None) -> ConsentState:
        current = current_version(purpose)
        text = text_of(purpose, current) or ""
        if row is None:
            granted = purpose in self._defaults
            return ConsentState(
                purpose=purpose, granted=granted, version=None, at=None, how=None, current_version=current, text=text
            )
        return ConsentState(
            purpose=purpose,
            granted=row.granted,
            version=row.text_version,
            at=row.answered_at,
            how=ConsentHow(row.how),
            current_version=current,
            text=text,
        )

    async def export_user(self, uow: UnitOfWork, user_id: str) -> ConsentsSection:
        return ConsentsSection(
            history=[
                ConsentRecord(
                    purpose=ConsentPurpose(row.purpose),
                    granted=row.granted,
                    version=row.text_version,
                    text=text_of(ConsentPurpose(row.purpose), row.text_version),
                    at=row.answered_at,
                    how=ConsentHow(row.how),
                )
                for row in await self._repository.history(uow, user_id)
            ]
        )

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> bool:
        return await self._repository.erase_user(uow, user_id)


class ConsentProjection:
    """A bus projection: each new consent event becomes a record, in the transaction that stores it,
    and an integration withdrawn has what was derived from it erased there too."""

    def __init__(self, repository: ConsentRepository, integrations: IntegrationData) -> None:
        self._repository = repository
        self.integrations = integrations  # replaced by tests with a fake; the integrations module implements it

    async def __call__(self, uow: UnitOfWork, events: list[EventEnvelope]) -> None:
        answers = [_answer(event) for event in events if event.type in CONSENT_EVENT_TYPES]
        if not answers:
            return
        await self._repository.append(uow, answers)
        for answer in answers:
            integration = integration_of(ConsentPurpose(answer["purpose"]))
            if integration is not None and not answer["granted"]:
                await self.integrations.forget(uow, answer["user_id"], integration)


def _answer(event: EventEnvelope) -> dict[str, Any]:
    if event.type == LEGACY_LLM_EVENT:
        # The choice before consents had texts: an answer to the `llm` text's first version, by API.
        answer = ConsentSet(purpose=ConsentPurpose.llm, granted=event.payload["allowed"], version=1)
    else:
        answer = ConsentSet.model_validate(event.payload)
    return {
        "user_id": event.user_id,
        "purpose": answer.purpose.value,
        "granted": answer.granted,
        "text_version": answer.version,
        "answered_at": event.occurred_at,
        "how": answer.how.value,
        "event_id": event.id,
    }


class ConsentService:
    """Answers given through the API or the command line: each becomes the same event the page posts."""

    def __init__(self, records: ConsentRecords, publisher: EventPublisher) -> None:
        self._records = records
        self._publisher = publisher

    async def change(
        self, uow: UnitOfWork, user_id: str, update: ConsentsUpdate, how: ConsentHow, *, now: datetime | None = None
    ) -> Consents:
        """Record each answer that changes something (a purpose already answered alike, at the same text
        version, records nothing: a repeated PUT is a no-op), and return where every purpose stands."""
        now = now or datetime.now(UTC)
        before = {state.purpose: state for state in (await self._records.states(uow, user_id)).consents}
        events = [
            envelope(
                event_id=uuid.uuid4(),
                event_type="profile.consent_set.v1",
                user_id=user_id,
                occurred_at=now,
                source="profile",
                payload=ConsentSet(purpose=change.purpose, granted=change.granted, version=change.version, how=how),
            )
            for change in update.consents
            if (before[change.purpose].granted, before[change.purpose].version) != (change.granted, change.version)
        ]
        if not events:
            return Consents(consents=list(before.values()))
        await self._publisher.publish(uow, events)
        return await self._records.states(uow, user_id)
