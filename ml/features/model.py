"""ml/features behind the `FeatureModel` port: the state is this module's JSON document, and every
question about it is answered here."""

from __future__ import annotations

from datetime import datetime

from ml.features.context import assemble_context
from ml.features.state import FeatureState
from oo_contracts.consents import ConsentPurpose
from oo_contracts.events import ContextObserved, DeviceClass, EventEnvelope, TipKind
from oo_contracts.knowledge import KnownCheckin, KnownTask, ReactionCount, RecordedFacts
from oo_contracts.recommendation import OpaqueState, QuietHours, UserContext


def _load(state: OpaqueState) -> FeatureState:
    return FeatureState.model_validate(state)


def _dump(state: FeatureState) -> OpaqueState:
    return state.model_dump(mode="json")


# The fields of the state that hold the person's latest answer for a purpose the recommender acts on.
_CHOICES = {ConsentPurpose.core: "core_processing", ConsentPurpose.llm: "llm_processing"}


class IncrementalFeatures:
    def initial_state(self) -> OpaqueState:
        return _dump(FeatureState())

    def apply(self, state: OpaqueState, events: list[EventEnvelope]) -> OpaqueState:
        features = _load(state)
        for event in events:
            features.apply(event)
        return _dump(features)

    def context(self, user_id: str, state: OpaqueState, now: datetime) -> UserContext:
        return assemble_context(user_id, _load(state), now)

    def context_update(
        self, state: OpaqueState, timezone: str | None, device_class: DeviceClass | None
    ) -> ContextObserved | None:
        if timezone is None:  # most asks: nothing to learn, and no need to read the state
            return None
        features = _load(state)
        if features.timezone is not None:
            return None
        device = device_class.value if device_class is not None else features.device_class
        return ContextObserved(timezone=timezone, device_class=DeviceClass(device))

    def done_since(self, state: OpaqueState, ref_id: str, since: datetime) -> bool:
        features = _load(state)
        if ref_id in features.tasks:
            return False
        habit = features.habits.get(ref_id)
        if habit is None:
            return True
        return habit.last_done_at is not None and habit.last_done_at >= since

    def processing_choice(self, state: OpaqueState, purpose: ConsentPurpose) -> bool | None:
        # Read from the document as stored, without validating all of it: this is asked before anything
        # else on every decision, and answers from one key.
        field = _CHOICES.get(purpose)
        value = state.get(field) if field else None
        return value if isinstance(value, bool) else None

    def recorded(self, state: OpaqueState, now: datetime) -> RecordedFacts:
        features = _load(state)
        facts = assemble_context("", features, now).facts
        reactions = []
        for key, (done, later, dismiss) in sorted(features.reactions.items()):
            source, kind, hour = key.rsplit("|", 2)
            reactions.append(
                ReactionCount(
                    source=source, kind=TipKind(kind), local_hour=int(hour), done=done, later=later, dismiss=dismiss
                )
            )
        return RecordedFacts(
            tasks=[
                KnownTask(task_id=task.task_id, title=task.title, provider=task.provider)
                for task in sorted(features.tasks.values(), key=lambda t: t.added_at)
            ],
            habits=facts.habits,
            checkins=[
                KnownCheckin(checkin_id=c.checkin_id, at=c.at, energy=c.energy, mood=c.mood)
                for c in reversed(features.checkins)
            ],
            timezone=features.timezone,
            quiet_hours=None
            if features.quiet_hours is None
            else QuietHours(start_hour=features.quiet_hours[0], end_hour=features.quiet_hours[1]),
            reactions=reactions,
            dismiss_rates={TipKind(kind): rate for kind, rate in features.kind_dismiss.items()},
            done_rates=[
                (done + 1.0) / (shown + 2.0)
                for done, shown in zip(features.hour_done, features.hour_shown, strict=True)
            ],
            learning_since=features.learning_since,
        )
