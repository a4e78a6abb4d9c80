"""What oO knows about a person, in plain words; deleting one fact; forgetting what was learned (ADR 0026).

The facts are read where they live — the feature state (tasks, habits, check-ins, settings, reaction
counts), the policy state, the person's connections and consents through ports — in one short read;
what the policy learned is asked of ML with no transaction open. Each deletion is an event, so the
feature state folds it like any signal and a replay of the log ends where the person left it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from oo_contracts.consents import ConsentPurpose, Consents
from oo_contracts.events import EventEnvelope
from oo_contracts.integrations import Integrations
from oo_contracts.knowledge import (
    Knowledge,
    KnowledgeItem,
    LearnedRequest,
    LearnedResponse,
    RecordedFacts,
    Removal,
)
from oo_contracts.recommendation import FeatureModel, MlPort, OpaqueState
from services.kernel.errors import Conflict, NotFound
from services.kernel.ports import Caller, ConsentStates, EventPublisher, PersonConnections
from services.kernel.unit_of_work import Transaction, UnitOfWork
from services.recommender.publishing import publish_one
from services.recommender.repository import RecommenderRepository

FORGET_HOW = "Forget what you learned: oO starts again from what it assumes of everyone."
SETTING_HOW = "Change it in the settings; it is a setting, not a record."
CONSENT_HOW = "Grant or withdraw it under Permissions; withdrawing deletes what it produced."
PURPOSE_WORDS = {
    ConsentPurpose.core: "oO processing your signals",
    ConsentPurpose.llm: "a language model writing tips from a summary of your day",
    ConsentPurpose.push: "push notifications",
    ConsentPurpose.email: "email",
}
PROVIDER_WORDS = {
    "todoist": "Todoist",
    "google_calendar": "Google Calendar",
    "caldav": "CalDAV calendar",
    "ics": "ICS calendar link",
}

INTEGRATION_PREFIX = "integration:"


def _provider(name: str) -> str:
    return PROVIDER_WORDS.get(name, name)


class KnowledgeService:
    def __init__(
        self,
        repository: RecommenderRepository,
        ml: MlPort,
        features: FeatureModel,
        publisher: EventPublisher,
        transaction: Transaction,
        connections: PersonConnections,
        consents: ConsentStates,
    ) -> None:
        self._repository = repository
        self._ml = ml
        self._features = features
        self._publisher = publisher
        self._transaction = transaction
        self._connections = connections
        self._consents = consents

    async def knowledge(self, caller: Caller, *, now: datetime | None = None) -> Knowledge:
        """Every fact, read in one short transaction; the learned sentences asked of ML after it."""
        now = now or datetime.now(UTC)
        async with self._transaction(write=False) as uow:
            principal = await caller.find(uow)
            read = None if principal is None else await self._read(uow, principal.user_id)
        if read is None:  # local mode's very first request
            principal = await caller.make()
            async with self._transaction(write=False) as uow:
                read = await self._read(uow, principal.user_id)
        state, policy_state, connections, consents = read
        recorded = self._features.recorded(state, now)
        learned = await self._ml.learned(
            LearnedRequest(
                policy_state=policy_state,
                reactions=recorded.reactions,
                dismiss_rates=recorded.dismiss_rates,
                done_rates=recorded.done_rates,
            )
        )
        return _knowledge(recorded, connections, consents, learned)

    async def _read(self, uow: UnitOfWork, user_id: str) -> tuple[OpaqueState, Any, Integrations, Consents]:
        state = await self._repository.feature_state(uow, user_id) or self._features.initial_state()
        policy = await self._repository.policy_state(uow, user_id)
        connections = await self._connections.statuses(uow, user_id)
        consents = await self._consents.states(uow, user_id)
        return state, None if policy is None else policy.state, connections, consents

    async def delete(self, uow: UnitOfWork, user_id: str, item_id: str, *, now: datetime | None = None) -> None:
        """Delete one fact the way oO deletes it anywhere: a habit by `profile.habit_removed.v1`, an own
        task by `integrations.task_deleted.v1`, a check-in by `profile.checkin_removed.v1`, a connection
        by disconnecting it. 404 for a fact the caller does not have (another person's included); 409
        for one that is changed elsewhere, not deleted (a consent, a setting, a learned sentence)."""
        now = now or datetime.now(UTC)
        kind, _, key = item_id.partition(":")
        state = await self._repository.feature_state(uow, user_id, lock=True) or self._features.initial_state()
        recorded = self._features.recorded(state, now)
        if kind == "habit" and any(h.habit_id == key for h in recorded.habits):
            await self._publish(uow, "profile.habit_removed.v1", user_id, now, {"habit_id": key})
        elif kind == "task" and any(t.task_id == key and t.provider is None for t in recorded.tasks):
            await self._publish(uow, "integrations.task_deleted.v1", user_id, now, {"task_id": key})
        elif kind == "checkin" and any(c.checkin_id == key for c in recorded.checkins):
            await self._publish(uow, "profile.checkin_removed.v1", user_id, now, {"checkin_id": key})
        elif kind == "connection" and await self._connected(uow, user_id, key):
            await self._connections.disconnect(uow, user_id, key)
        elif kind in ("consent", "setting", "learned", "provider_tasks") and await self._listed(uow, user_id, item_id):
            raise Conflict(
                f"{item_id!r} is not deleted on its own: see its `how` in GET /v1/me/knowledge",
                code="not_deletable",
            )
        else:
            raise NotFound("you have no such fact", code="knowledge_item_not_found")

    async def forget_learning(self, uow: UnitOfWork, user_id: str, *, now: datetime | None = None) -> None:
        """`recommender.learning_forgotten.v1`: the feature state empties its learned affinities and counts
        as it folds it, and `LearningReset` deletes the policy state in the same transaction."""
        await self._publish(uow, "recommender.learning_forgotten.v1", user_id, now or datetime.now(UTC), {})

    async def _connected(self, uow: UnitOfWork, user_id: str, provider: str) -> bool:
        statuses = (await self._connections.statuses(uow, user_id)).integrations
        return any(s.provider == provider and s.status != "not_connected" for s in statuses)

    async def _listed(self, uow: UnitOfWork, user_id: str, item_id: str) -> bool:
        """Whether an item that cannot be deleted here is one of the caller's (else it is unknown: 404).
        A learned sentence counts as listed while the person has a policy to forget."""
        if item_id.startswith("learned:"):
            return await self._repository.policy_state(uow, user_id) is not None
        state = await self._repository.feature_state(uow, user_id) or self._features.initial_state()
        recorded = self._features.recorded(state, datetime.now(UTC))
        consents = await self._consents.states(uow, user_id)
        facts = _facts(recorded, await self._connections.statuses(uow, user_id), consents)
        return any(item.id == item_id for group in facts.values() for item in group)

    async def _publish(self, uow: UnitOfWork, event_type: str, user_id: str, now: datetime, payload: Any) -> None:
        await publish_one(self._publisher, uow, event_type, user_id, now, payload)


class LearningReset:
    """A bus projection: the policy learnt from the person's reactions is deleted in the transaction that
    records `recommender.learning_forgotten.v1`, so their next decision starts from the population prior."""

    def __init__(self, repository: RecommenderRepository) -> None:
        self._repository = repository

    async def __call__(self, uow: UnitOfWork, events: list[EventEnvelope]) -> None:
        for event in events:
            if event.type == "recommender.learning_forgotten.v1":
                await self._repository.delete_policy_state(uow, event.user_id)


def _knowledge(
    recorded: RecordedFacts, connections: Integrations, consents: Consents, learned: LearnedResponse
) -> Knowledge:
    sentences = [
        KnowledgeItem(id=s.id, text=s.text, removal=Removal.forget_learning, how=FORGET_HOW) for s in learned.sentences
    ]
    return Knowledge(**_facts(recorded, connections, consents), learned=sentences)


def _offered(purpose: ConsentPurpose, connections: Integrations) -> bool:
    """A purpose worth listing unanswered: not an integration's, or one this server offers (a
    permission for a provider the server cannot connect to would read as a setting with no effect)."""
    if not purpose.value.startswith(INTEGRATION_PREFIX):
        return True
    return any(f"{INTEGRATION_PREFIX}{c.provider}" == purpose.value for c in connections.integrations)


def _facts(recorded: RecordedFacts, connections: Integrations, consents: Consents) -> dict[str, list[KnowledgeItem]]:
    zone = ZoneInfo(recorded.timezone or "UTC")
    return {
        "connections": [
            KnowledgeItem(
                id=f"connection:{c.provider}",
                text=f"{_provider(c.provider)}: {'connected' if c.status == 'connected' else 'connected, but refused'}",
                removal=Removal.delete,
                how=f"Deleting disconnects {_provider(c.provider)} and forgets everything oO derived from it.",
            )
            for c in connections.integrations
            if c.status != "not_connected"
        ],
        "tasks": _tasks(recorded),
        "habits": [
            KnowledgeItem(
                id=f"habit:{h.habit_id}",
                text=f"{h.name}: "
                + (
                    "not done yet"
                    if h.done_count == 0
                    else f"done {h.done_count} {'time' if h.done_count == 1 else 'times'}, "
                    f"{h.done_in_last_7_days} of the last 7 days"
                ),
                removal=Removal.delete,
                how="Deleting removes the habit and its record; oO stops suggesting it.",
            )
            for h in recorded.habits
        ],
        "checkins": [
            KnowledgeItem(
                id=f"checkin:{c.checkin_id}",
                text=f"Check-in {c.at.astimezone(zone):%a %d %b %H:%M}: "
                + ", ".join(
                    f"{name} {value} of 5" for name, value in (("energy", c.energy), ("mood", c.mood)) if value
                ),
                removal=Removal.delete,
                how="Deleting forgets this check-in; oO reads your energy and mood from the others.",
            )
            for c in recorded.checkins
        ],
        "consents": [
            KnowledgeItem(
                id=f"consent:{c.purpose.value}",
                text=f"{_purpose(c.purpose)}: {'allowed' if c.granted else 'not allowed'}"
                + ("" if c.at is not None else " (the default)"),
                removal=Removal.change_setting,
                how=CONSENT_HOW,
            )
            for c in consents.consents
            if c.at is not None or _offered(c.purpose, connections)
        ],
        "settings": [
            KnowledgeItem(
                id="setting:timezone",
                text=f"Time zone: {recorded.timezone}" if recorded.timezone else "Time zone: not set (UTC is used)",
                removal=Removal.change_setting,
                how=SETTING_HOW,
            ),
            KnowledgeItem(
                id="setting:quiet_hours",
                text="Quiet hours: none"
                if recorded.quiet_hours is None
                else f"Quiet hours: {recorded.quiet_hours.start_hour:02d}:00–{recorded.quiet_hours.end_hour:02d}:00",
                removal=Removal.change_setting,
                how=SETTING_HOW,
            ),
        ],
    }


def _purpose(purpose: ConsentPurpose) -> str:
    if purpose in PURPOSE_WORDS:
        words = PURPOSE_WORDS[purpose]
        # A sentence's capital, but never on the name: str.capitalize would make "oO" "Oo".
        return words if words.startswith("oO") else words[0].upper() + words[1:]
    return f"Reading your {_provider(purpose.value.removeprefix('integration:'))}"


def _tasks(recorded: RecordedFacts) -> list[KnowledgeItem]:
    own = [
        KnowledgeItem(
            id=f"task:{t.task_id}",
            text=t.title or "a task",
            removal=Removal.delete,
            how="Deleting forgets the task; oO will not suggest it again.",
        )
        for t in recorded.tasks
        if t.provider is None
    ]
    by_provider: dict[str, int] = {}
    for task in recorded.tasks:
        if task.provider is not None:
            by_provider[task.provider] = by_provider.get(task.provider, 0) + 1
    held = [
        KnowledgeItem(
            id=f"provider_tasks:{provider}",
            text=f"{count} open {'task' if count == 1 else 'tasks'} from {_provider(provider)} "
            "(their titles are never stored)",
            removal=Removal.with_connection,
            how=f"They go when you disconnect {_provider(provider)}, and change as they change there.",
        )
        for provider, count in sorted(by_provider.items())
    ]
    return own + held
