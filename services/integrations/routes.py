"""The integrations' HTTP surface: a person's connections, their refresh and disconnection, Todoist's
OAuth callback and webhook.

Connecting, refreshing and the callback talk to a provider: they open their own short transactions
and none while the provider answers.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from oo_contracts.identity import Principal, Scope
from oo_contracts.integrations import Authorization, AuthorizationRequest, Integrations, RefreshResult
from services.integrations.connections_view import ConnectionsView
from services.integrations.todoist.oauth import STATE_SECONDS
from services.kernel.errors import PayloadTooLarge
from services.kernel.http import (
    AUTHENTICATED_ERRORS,
    BODY_ERRORS,
    CurrentUnitOfWork,
    error_responses,
    require_caller,
    require_scope,
)
from services.kernel.ports import Caller

ReadingCaller = Annotated[Principal, Depends(require_scope(Scope.account_read))]
ConnectingCaller = Annotated[Caller, Depends(require_caller(Scope.integrations_write))]
ConnectingPrincipal = Annotated[Principal, Depends(require_scope(Scope.integrations_write))]
ProviderPath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="`todoist`, `caldav`, `ics`…")]
WEBHOOK_BODY_LIMIT = 1 << 20  # Todoist's own limit on a request body


def build_router(view: ConnectionsView) -> APIRouter:
    router = APIRouter(tags=["integrations"])

    @router.get(
        "/v1/me/integrations",
        response_model=Integrations,
        summary="The caller's connections to providers, and what oO last read of each",
        responses=error_responses(*AUTHENTICATED_ERRORS),
    )
    async def integrations(uow: CurrentUnitOfWork, principal: ReadingCaller) -> Integrations:
        """Every provider this server offers, connected or not (Google Calendar only where the server
        has a Google client, or while the person is still connected to it): its status (`broken` when the provider
        refused oO's grant), the consent it needs, whether Done in oO completes tasks there, when oO
        last read it, and `stale` with `sync_error` when the last refresh failed (what oO knows is then
        as of `last_synced_at`). Never a token, never the provider's data."""
        return await view.statuses(uow, principal.user_id)

    @router.post(
        "/v1/me/integrations/todoist/authorization",
        response_model=Authorization,
        summary="Begin connecting Todoist: where to send the person",
        responses=error_responses(*AUTHENTICATED_ERRORS, *BODY_ERRORS, 404, 409),
    )
    async def authorize_todoist(
        uow: CurrentUnitOfWork,
        principal: ConnectingPrincipal,
        request: Annotated[AuthorizationRequest | None, Body()] = None,
    ) -> Authorization:
        """Returns Todoist's authorize URL with a `state` good for one callback within ten minutes, bound
        to the caller. `data:read` by default; `complete_tasks: true` asks for `data:read_write` so that
        Done in oO completes the task in Todoist. 404 `unknown_integration` when this server has no
        Todoist app configured; 409 `consent_required` until `integration:todoist` is granted."""
        url = await view.begin_todoist(uow, principal.user_id, (request or AuthorizationRequest()).complete_tasks)
        return Authorization(authorize_url=url, expires_in=STATE_SECONDS)

    @router.get(
        "/v1/integrations/todoist/callback",
        summary="Todoist sends the person back here",
        response_class=RedirectResponse,
        status_code=303,
        responses={
            303: {"description": "Back to the page, which says in words how it went."},
            **error_responses(*AUTHENTICATED_ERRORS, 404, 422),
        },
    )
    async def todoist_callback(
        caller: ConnectingCaller,
        state: Annotated[str, Query(max_length=256)] = "",
        code: Annotated[str | None, Query(max_length=512)] = None,
        error: Annotated[str | None, Query(max_length=64)] = None,
    ) -> RedirectResponse:
        """Takes the `state` once, checks it was begun by the caller, exchanges the code, stores the grant
        sealed, and reads the tasks in the background. Always a 303 to oO's own page:
        `/?integration=todoist&result=connected`, or `result=` one of `access_denied`, `bad_code`,
        `app_credentials`, `state_unknown`, `wrong_person`, `not_allowed`, `unreachable`,
        `provider_error`, which the page says in words."""
        result = await view.finish_todoist(caller, state=state, code=code, error=error)
        return RedirectResponse("/?" + urlencode({"integration": "todoist", "result": result}), status_code=303)

    @router.post(
        "/v1/integrations/todoist/webhook",
        summary="Todoist's webhook: a hint to read a person's tasks again",
        status_code=200,
        responses=error_responses(401, 404, 413, 503),
    )
    async def todoist_webhook(request: Request) -> Response:
        """Verified with `X-Todoist-Hmac-SHA256` over the raw body (401 `bad_signature` otherwise),
        taken once per `X-Todoist-Delivery-ID` (a replay answers 200 and changes nothing). Its body is
        never stored: the people of that Todoist account have their tasks read again."""
        raw = await _raw_body(request)
        await view.todoist_delivery(
            raw,
            signature=request.headers.get("X-Todoist-Hmac-SHA256"),
            delivery_id=request.headers.get("X-Todoist-Delivery-ID"),
        )
        return Response(status_code=200)

    @router.post(
        "/v1/me/integrations/{provider}/refresh",
        response_model=RefreshResult,
        summary="Read a provider now",
        responses=error_responses(*AUTHENTICATED_ERRORS, 404, 409, 422),
    )
    async def refresh(provider: ProviderPath, caller: ConnectingCaller) -> RefreshResult:
        """Reads the provider at once and publishes what changed. 404 `unknown_integration`; 409
        `not_connected` or `consent_required`. A provider that fails answers 200 with `outcome: failed`:
        the connection is then `stale` with its `sync_error`, and keeps what was read before."""
        return await view.refresh(caller, provider)

    @router.delete(
        "/v1/me/integrations/{provider}",
        status_code=204,
        summary="Disconnect a provider and forget what oO derived from it",
        responses=error_responses(*AUTHENTICATED_ERRORS, 404, 422),
    )
    async def disconnect(provider: ProviderPath, uow: CurrentUnitOfWork, principal: ConnectingPrincipal) -> Response:
        """Deletes the grant and everything derived from the provider (tasks, busy times), then revokes the
        grant at the provider. 404 `not_connected` when there is no connection."""
        await view.disconnect(uow, principal.user_id, provider)
        return Response(status_code=204)

    return router


async def _raw_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > WEBHOOK_BODY_LIMIT:
        raise PayloadTooLarge("a webhook delivery is at most 1 MiB", code="payload_too_large")
    return await request.body()
