"""The recommender's facade: context → candidates → policy → one tip; reactions → learning."""

from __future__ import annotations

from fastapi import APIRouter

from oo_contracts.recommendation import FeatureModel, MlPort
from services.kernel.ports import EventPublisher
from services.recommender.data import UserRecommendations
from services.recommender.ml_client import HttpMl
from services.recommender.projection import FeatureProjection
from services.recommender.repository import RecommenderRepository
from services.recommender.routes import build_router
from services.recommender.service import RecommendService
from services.recommender.settings import RecommenderSettings

__all__ = ["HttpMl", "RecommenderModule"]


class RecommenderModule:
    def __init__(
        self, settings: RecommenderSettings, ml: MlPort, features: FeatureModel, publisher: EventPublisher
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
            silence_retry_seconds=settings.silence_retry_seconds,
            tip_hold_seconds=settings.tip_hold_seconds,
        )

    async def close(self) -> None:
        if isinstance(self._ml, HttpMl):
            await self._ml.aclose()

    def router(self) -> APIRouter:
        return build_router(self.service)
