"""Contexts and candidates for ML tests, built through the real feature code."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ml.features.context import assemble_context
from ml.features.state import FeatureState
from oo_contracts.events import EventEnvelope, envelope
from oo_contracts.recommendation import UserContext

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def event(event_type: str, payload: dict[str, Any], at: datetime = NOON) -> EventEnvelope:
    return envelope(
        event_id=uuid.uuid4(), event_type=event_type, user_id="usr_test", occurred_at=at, source="test", payload=payload
    )


def state_with(*events: EventEnvelope) -> FeatureState:
    state = FeatureState()
    for e in events:
        state.apply(e)
    return state


def busy_day_state() -> FeatureState:
    return state_with(
        event("recommender.context_observed.v1", {"timezone": "UTC", "device_class": "phone"}),
        event("profile.checkin_recorded.v1", {"energy": 4, "mood": 3}, NOON - timedelta(hours=1)),
        event(
            "integrations.task_added.v1",
            {
                "task_id": "t1",
                "title": "Reply to Sam",
                "estimated_minutes": 10,
                "priority": 3,
                "due": (NOON + timedelta(hours=30)).isoformat(),
            },
        ),
        event(
            "integrations.task_added.v1",
            {
                "task_id": "t2",
                "title": "Renew passport",
                "priority": 2,
                "estimated_minutes": 45,
                "due": (NOON - timedelta(days=5)).isoformat(),
            },
        ),
        event(
            "profile.habit_defined.v1",
            {
                "habit_id": "h1",
                "name": "a short walk",
                "cadence": "daily",
                "window_start_hour": 11,
                "window_end_hour": 14,
                "effort": 1,
            },
        ),
        event(
            "integrations.busy_interval_recorded.v1",
            {"start": (NOON + timedelta(minutes=25)).isoformat(), "end": (NOON + timedelta(hours=2)).isoformat()},
        ),
    )


def context_of(state: FeatureState, now: datetime = NOON) -> UserContext:
    return assemble_context("usr_test", state, now)
