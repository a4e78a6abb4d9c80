"""The recommender's facade: context → candidates → policy → one tip; reactions → learning."""

from __future__ import annotations

from fastapi import APIRouter

from oo_contracts.recommendation import FeatureModel, MlPort
from services.kernel.ports import EventPublisher
from services.kernel.unit_of_work import Transaction
from services.recommender.data import UserRecommendations
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
        llm_tips: bool = False,
        llm_allowed_by_default: bool = False,
    ) -> None:
        self._ml = ml
        repository = RecommenderRepository()
        self.feature_projection = FeatureProjection(repository, features)
        self.user_data = UserRecommendations(repository)
        self.service = RecommendService(
            repository,
            ml,
            features,
            publisher,
            transaction,
            hold_active_user,
            silence_retry_seconds=settings.silence_retry_seconds,
            tip_hold_seconds=settings.tip_hold_seconds,
            hold_silence=settings.hold_silence,
            llm_tips=llm_tips,
        )
        self.llm_refresher = (
            LlmRefresher(
                settings,
                repository,
                ml,
                features,
                transaction,
                hold_active_user,
                allowed_by_default=llm_allowed_by_default,
            )
            if llm_tips
            else None
        )

    async def close(self) -> None:
        if self.llm_refresher is not None:
            await self.llm_refresher.close()
        if isinstance(self._ml, HttpMl):
            await self._ml.aclose()

    def router(self) -> APIRouter:
        return build_router(self.service)
