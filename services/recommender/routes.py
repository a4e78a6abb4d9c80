"""HTTP routes of the recommender: the product's contract."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import Response

from oo_contracts.identity import Principal, Scope
from oo_contracts.knowledge import Knowledge
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
from services.recommender.knowledge import KnowledgeService
from services.recommender.service import RecommendService

TipsCaller = Annotated[Principal, Depends(require_scope(Scope.tips))]
# Deciding calls ML, which may take seconds: these use cases open their own short transactions, and
# look their caller up in the first of them.
DecidingCaller = Annotated[Caller, Depends(require_caller(Scope.tips))]
# Knowledge asks ML what the policy learned: its own short read, and no transaction open during the ask.
KnowledgeReader = Annotated[Caller, Depends(require_caller(Scope.account_read))]
Forgetting = Annotated[Principal, Depends(require_scope(Scope.account_delete))]
ItemPath = Annotated[
    str,
    Path(
        pattern=r"^[a-z_]{1,16}:[A-Za-z0-9_.:-]{1,80}$",
        description="An item's `id` from `GET /v1/me/knowledge`, e.g. `habit:h1`.",
    ),
]


def build_router(service: RecommendService, knowledge: KnowledgeService) -> APIRouter:
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

    @router.get(
        "/v1/me/knowledge",
        response_model=Knowledge,
        summary="What oO knows about the caller, in plain words",
        responses=error_responses(*AUTHENTICATED_ERRORS),
    )
    async def knowledge_of_me(caller: KnowledgeReader) -> Knowledge:
        """Every fact oO holds, grouped — connections, tasks (a provider's by count: their titles are never
        stored), habits with their record, the latest check-ins, consents, time zone and quiet hours —
        and what the policy learned, in sentences the caller's own reactions bear out (ADR 0026). Each
        item has an `id` and says how it can go (`removal`, `how`)."""
        return await knowledge.knowledge(caller)

    @router.delete(
        "/v1/me/knowledge/{item_id}",
        status_code=204,
        summary="Delete one fact oO knows about the caller",
        responses=error_responses(*AUTHENTICATED_ERRORS, 404, 409, 422),
    )
    async def forget_item(item_id: ItemPath, uow: CurrentUnitOfWork, principal: Forgetting) -> Response:
        """An item whose `removal` is `delete`: a habit, an own task, a check-in, a connection (disconnected
        as `DELETE /v1/me/integrations/{provider}` does). 404 `knowledge_item_not_found` for an id the
        caller does not have (another person's answers alike); 409 `not_deletable` for an item that is
        changed elsewhere (see its `how`); 422 for an id that is not one."""
        await knowledge.delete(uow, principal.user_id, item_id)
        return Response(status_code=204)

    @router.post(
        "/v1/me/knowledge/forget-learning",
        status_code=204,
        summary="Forget what oO learned from the caller's reactions",
        responses=error_responses(*AUTHENTICATED_ERRORS),
    )
    async def forget_learning(uow: CurrentUnitOfWork, principal: Forgetting) -> Response:
        """The policy starts again from the population prior, and the learned affinities and reaction counts
        are emptied; tasks, habits, check-ins and settings stay. Recorded as
        `recommender.learning_forgotten.v1`; asking again records it again and changes nothing more."""
        await knowledge.forget_learning(uow, principal.user_id)
        return Response(status_code=204)

    return router
