"""The recommender's facade: context → candidates → policy → one tip; reactions → learning."""

from __future__ import annotations

from fastapi import APIRouter

from oo_contracts.consents import ConsentPurpose
from oo_contracts.jobs import Jobs
from oo_contracts.recommendation import FeatureModel, MlPort
from services.kernel.ports import ConsentStates, EventPublisher, PersonConnections, TaskTitles
from services.kernel.unit_of_work import Transaction
from services.recommender.consents import ConsentWithdrawals, ProcessingConsent
from services.recommender.data import UserRecommendations
from services.recommender.knowledge import KnowledgeService, LearningReset
from services.recommender.llm_refresh import LlmRefresher
from services.recommender.ml_client import HttpMl
from services.recommender.projection import FeatureProjection
from services.recommender.repository import RecommenderRepository
from services.recommender.routes import build_router
from services.recommender.service import RecommendService, UserHold
from services.recommender.settings import RecommenderSettings

__all__ = ["HttpMl", "RecommenderModule"]


class RecommenderModule:
    def __init__(
        self,
        settings: RecommenderSettings,
        ml: MlPort,
        features: FeatureModel,
        publisher: EventPublisher,
        transaction: Transaction,
        hold_active_user: UserHold,
        *,
        granted_by_default: frozenset[ConsentPurpose],
        llm_tips: bool = False,
        titles: TaskTitles | None = None,
        connections: PersonConnections,
        consent_states: ConsentStates,
        jobs: Jobs,
    ) -> None:
        self._ml = ml
        repository = RecommenderRepository()
        consent = ProcessingConsent(features, granted_by_default)
        # Both registered on the bus by the composition root, in this order: the answer is folded into the
        # feature state, then what the withdrawn purpose produced is deleted.
        self.feature_projection = FeatureProjection(repository, features)
        self.consent_withdrawals = ConsentWithdrawals(repository)
        # Registered on the bus by the composition root: forgetting what was learned resets the policy
        # in the transaction that records it.
        self.learning_reset = LearningReset(repository)
        self.knowledge = KnowledgeService(repository, ml, features, publisher, transaction, connections, consent_states)
        self.user_data = UserRecommendations(repository)
        self.service = RecommendService(
            repository,
            ml,
            features,
            publisher,
            transaction,
            hold_active_user,
            consent,
            silence_retry_seconds=settings.silence_retry_seconds,
            tip_hold_seconds=settings.tip_hold_seconds,
            hold_silence=settings.hold_silence,
            llm_tips=llm_tips,
            titles=titles,
        )
        self.llm_refresher = (
            LlmRefresher(
                settings,
                repository,
                ml,
                features,
                transaction,
                hold_active_user,
                consent,
                jobs=jobs,
            )
            if llm_tips
            else None
        )

    async def close(self) -> None:
        if isinstance(self._ml, HttpMl):
            await self._ml.aclose()

    def router(self) -> APIRouter:
        return build_router(self.service, self.knowledge)
