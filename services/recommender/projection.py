"""Feature state, folded from each user's events in the transaction that stores them."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from oo_contracts.events import EventEnvelope
from oo_contracts.recommendation import FeatureModel
from services.kernel.unit_of_work import UnitOfWork
from services.recommender.repository import RecommenderRepository


class FeatureProjection:
    """A bus projection: exactly once per stored event, atomically with it; never a rescan."""

    def __init__(self, repository: RecommenderRepository, model: FeatureModel) -> None:
        self._repository = repository
        self._model = model

    async def __call__(self, uow: UnitOfWork, events: list[EventEnvelope]) -> None:
        by_user: defaultdict[str, list[EventEnvelope]] = defaultdict(list)
        for event in events:
            by_user[event.user_id].append(event)
        now = datetime.now(UTC)
        for user_id, user_events in by_user.items():
            state = await self._repository.feature_state(uow, user_id, lock=True)
            updated = self._model.apply(state or self._model.initial_state(), user_events)
            await self._repository.save_feature_state(uow, user_id, updated, now)
