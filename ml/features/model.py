"""ml/features behind the `FeatureModel` port: JSON state in, JSON state out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ml.features.context import assemble_context
from ml.features.state import FeatureState
from oo_contracts.events import EventEnvelope
from oo_contracts.recommendation import UserContext


class IncrementalFeatures:
    def initial_state(self) -> dict[str, Any]:
        return FeatureState().model_dump(mode="json")

    def apply(self, state: dict[str, Any], events: list[EventEnvelope]) -> dict[str, Any]:
        features = FeatureState.model_validate(state)
        for event in events:
            features.apply(event)
        return features.model_dump(mode="json")

    def context(self, user_id: str, state: dict[str, Any], now: datetime) -> UserContext:
        return assemble_context(user_id, FeatureState.model_validate(state), now)
