"""The recommender as a UserDataOwner: its feature state, policy state and decisions."""

from __future__ import annotations

from datetime import datetime

from oo_contracts.export import DecisionRecord, PolicyRecord, RecommenderSection
from services.kernel.unit_of_work import UnitOfWork
from services.recommender.repository import RecommenderRepository


class UserRecommendations:
    section = "recommender"
    tables: tuple[str, ...] = (
        "recommender_feature_state",
        "recommender_policy_state",
        "recommender_decisions",
        "recommender_llm_cache",
    )

    def __init__(self, repository: RecommenderRepository) -> None:
        self._repository = repository

    async def export_user(self, uow: UnitOfWork, user_id: str) -> RecommenderSection:
        policy = await self._repository.policy_state(uow, user_id)
        cache = await self._repository.llm_cache(uow, user_id)
        return RecommenderSection(
            llm_cache=None if cache is None else {k: _plain(v) for k, v in cache._mapping.items() if k != "user_id"},
            feature_state=await self._repository.feature_state(uow, user_id),
            policy=None
            if policy is None
            else PolicyRecord(
                policy_version=policy.policy_version, observations=policy.observations, state=policy.state
            ),
            decisions=[
                DecisionRecord(
                    decision_id=d.decision_id,
                    created_at=d.created_at,
                    policy_version=d.policy_version,
                    chosen=d.chosen,
                    propensity=d.propensity,
                    candidates=d.candidates,
                    context=d.context,
                    shadow=d.shadow,
                    effects=d.effects,
                    reaction=d.reaction,
                    reason=d.reason,
                    reacted_at=d.reacted_at,
                )
                for d in await self._repository.decisions_of(uow, user_id)
            ],
        )

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> bool:
        return await self._repository.erase_user(uow, user_id)


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value
