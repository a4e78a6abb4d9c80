"""HTTP ingress of the events module."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from oo_contracts.events import BatchResult, EventBatch
from oo_contracts.identity import Principal, Scope
from services.events.service import IngestService
from services.kernel.http import (
    AUTHENTICATED_ERRORS,
    BODY_ERRORS,
    CurrentUnitOfWork,
    FastJsonRoute,
    error_responses,
    require_scope,
)


def build_router(ingest: IngestService) -> APIRouter:
    router = APIRouter(tags=["events"], route_class=FastJsonRoute)

    @router.post(
        "/v1/events",
        response_model=BatchResult,
        summary="Post a batch of the caller's events",
        responses=error_responses(*AUTHENTICATED_ERRORS, *BODY_ERRORS, 409),
    )
    async def post_events(
        batch: EventBatch,
        uow: CurrentUnitOfWork,
        principal: Annotated[Principal, Depends(require_scope(Scope.events_write))],
    ) -> BatchResult:
        """Store up to 500 events, all or nothing.

        Idempotent by event id, per person: a replayed event is listed in `already_known` and not
        stored again; another person's event under the same id is theirs and tells you nothing.
        An unknown type, a payload that fails its schema, a timestamp too far in the future or a
        batch of more than 500 events is rejected with 422, an id you already used for other content
        with 409; the error's `items` name each offending event, and nothing of the batch is stored.
        While the person has not granted `core` (ADR 0022), signals are refused with 409
        `consent_required`; consent answers (`profile.consent_set.v1`) always go through, and need the
        scope `consents:write` (403 without it).
        """
        return await ingest.ingest(uow, principal, batch)

    return router
