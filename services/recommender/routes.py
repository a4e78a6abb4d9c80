"""HTTP routes of the recommender: the product's contract."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from oo_contracts.identity import Principal, Scope
from oo_contracts.recommendation import (
    FeedbackRequest,
    FeedbackResponse,
    RecommendRequest,
    RecommendResponse,
    Settings,
)
from services.kernel.http import (
    AUTHENTICATED_ERRORS,
    BODY_ERRORS,
    CurrentUnitOfWork,
    error_responses,
    require_caller,
    require_scope,
)
from services.kernel.ports import Caller
from services.recommender.service import RecommendService

TipsCaller = Annotated[Principal, Depends(require_scope(Scope.tips))]
# Deciding calls ML, which may take seconds: these use cases open their own short transactions, and
# look their caller up in the first of them.
DecidingCaller = Annotated[Caller, Depends(require_caller(Scope.tips))]


def build_router(service: RecommendService) -> APIRouter:
    router = APIRouter(tags=["recommender"])

    @router.post(
        "/v1/recommend",
        response_model=RecommendResponse,
        summary="One tip now, or silence",
        responses=error_responses(*AUTHENTICATED_ERRORS, *BODY_ERRORS, 409),
    )
    async def recommend(
        caller: DecidingCaller,
        request: Annotated[RecommendRequest | None, Body()] = None,
    ) -> RecommendResponse:
        """The one tip worth showing now, with its one-line why — or `tip: null` when silence wins,
        with `retry_after` seconds. The request's context (time zone, device) is recorded as a signal.
        409 `consent_required` while the person has not granted `core`: then nothing is read, decided or
        recorded (ADR 0022)."""
        return await service.recommend(caller, request or RecommendRequest())

    @router.post(
        "/v1/feedback",
        response_model=FeedbackResponse,
        summary="React to a tip; the policy learns at once",
        responses=error_responses(*AUTHENTICATED_ERRORS, *BODY_ERRORS, 404, 409),
    )
    async def feedback(request: FeedbackRequest, caller: DecidingCaller) -> FeedbackResponse:
        """Done, later or not for me (with an optional reason). 404 for an unknown decision or another
        person's; 409 for a second reaction, a decision that showed nothing, or while the person has not
        granted `core` (`consent_required`). Nothing changes on a 4xx."""
        return await service.feedback(caller, request)

    @router.get(
        "/v1/me/settings",
        response_model=Settings,
        summary="The person's time zone, quiet hours and habits",
        responses=error_responses(*AUTHENTICATED_ERRORS),
    )
    async def settings(uow: CurrentUnitOfWork, principal: TipsCaller) -> Settings:
        """Read-only: each setting is changed by posting its event to `POST /v1/events`."""
        return await service.settings(uow, principal)

    return router
