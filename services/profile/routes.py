"""HTTP routes of the profile module: the privacy endpoints and the person's consents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel

from oo_contracts.consents import ConsentHow, Consents, ConsentsUpdate
from oo_contracts.export import AccountExport
from oo_contracts.identity import Principal, Scope
from services.kernel.errors import NotFound
from services.kernel.http import AUTHENTICATED_ERRORS, BODY_ERRORS, CurrentUnitOfWork, error_responses, require_scope
from services.profile.consents import ConsentRecords, ConsentService
from services.profile.privacy import PrivacyService


class DeletionReceipt(BaseModel):
    """Where a deletion stands. The receipt holds no personal data; its id is the only handle."""

    receipt_id: UUID
    status: Literal["pending", "completed"]
    requested_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None


def _receipt(receipt_id: UUID, requested_at: datetime | None, completed_at: datetime | None) -> DeletionReceipt:
    status: Literal["pending", "completed"] = "completed" if completed_at else "pending"
    return DeletionReceipt(receipt_id=receipt_id, status=status, requested_at=requested_at, completed_at=completed_at)


def build_router(privacy: PrivacyService, records: ConsentRecords, consents: ConsentService) -> APIRouter:
    router = APIRouter(tags=["privacy"])

    @router.get(
        "/v1/me/consents",
        response_model=Consents,
        summary="What the caller lets oO do, purpose by purpose",
        responses=error_responses(*AUTHENTICATED_ERRORS),
    )
    async def get_consents(
        uow: CurrentUnitOfWork, principal: Annotated[Principal, Depends(require_scope(Scope.account_read))]
    ) -> Consents:
        """Every purpose (`core`, `llm`, `push`, `email`, one per integration) with whether it is granted
        now, the text version and moment of the latest answer (null: never answered, and the
        deployment's default holds), and the text to show now with its `current_version`."""
        return await records.states(uow, principal.user_id)

    @router.put(
        "/v1/me/consents",
        response_model=Consents,
        summary="Grant or withdraw one or several purposes",
        responses=error_responses(*AUTHENTICATED_ERRORS, *BODY_ERRORS),
    )
    async def put_consents(
        update: ConsentsUpdate,
        uow: CurrentUnitOfWork,
        principal: Annotated[Principal, Depends(require_scope(Scope.consents_write))],
    ) -> Consents:
        """Each answer names the text version the person was shown (1 up to the purpose's
        `current_version`); each purpose at most once; purposes left out stay as they are. Recorded
        as given through the API, and it takes effect in this request's transaction: a withdrawal stops
        the processing at once and deletes what it produced (ADR 0022). Answering a purpose alike, at
        the same version, records nothing. Returns every purpose as `GET` does. The page records the
        same answer by posting `profile.consent_set.v1` to `POST /v1/events`."""
        return await consents.change(uow, principal.user_id, update, ConsentHow.api)

    @router.get(
        "/v1/me/export",
        response_model=AccountExport,
        summary="Everything oO holds about the caller",
        responses=error_responses(*AUTHENTICATED_ERRORS),
    )
    async def export_me(
        uow: CurrentUnitOfWork, principal: Annotated[Principal, Depends(require_scope(Scope.account_read))]
    ) -> AccountExport:
        """A JSON document that validates against `GET /v1/schemas/account-export.json`."""
        return await privacy.export(uow, principal.user_id)

    @router.delete(
        "/v1/me",
        status_code=202,
        response_model=DeletionReceipt,
        summary="Delete the caller's account and everything oO holds about them",
        responses=error_responses(*AUTHENTICATED_ERRORS),
    )
    async def delete_me(
        uow: CurrentUnitOfWork, principal: Annotated[Principal, Depends(require_scope(Scope.account_delete))]
    ) -> DeletionReceipt:
        """Irreversible. Every credential of the caller stops working when this returns; the data is
        erased right after, and a deletion interrupted by a crash is finished automatically.
        `GET /v1/deletion-receipts/{receipt_id}` tells when it has completed."""
        receipt_id = await privacy.request_deletion(uow, principal.user_id)
        status = None if receipt_id is None else await privacy.receipt_status(uow, receipt_id)
        if receipt_id is None or status is None:  # the principal was resolved in this transaction: unreachable
            raise NotFound("no such user", code="user_not_found")
        return _receipt(receipt_id, *status)

    @router.get(
        "/v1/deletion-receipts/{receipt_id}",
        response_model=DeletionReceipt,
        summary="Where an account deletion stands",
        responses=error_responses(404, 422, 503),
    )
    async def deletion_receipt(receipt_id: UUID, uow: CurrentUnitOfWork) -> DeletionReceipt:
        status = await privacy.receipt_status(uow, receipt_id)
        if status is None:
            raise NotFound("no deletion receipt with this id", code="receipt_not_found")
        return _receipt(receipt_id, *status)

    @router.get(
        "/v1/schemas/account-export.json",
        summary="JSON Schema of the account export",
        response_model=dict[str, Any],
    )
    async def export_schema() -> JSONResponse:
        return JSONResponse(AccountExport.model_json_schema())

    return router
