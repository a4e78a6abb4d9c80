"""HTTP routes of the calendar connectors: connect CalDAV or an ICS link, and Google's OAuth code flow.

Listing, refreshing and disconnecting connections are the integrations module's own routes, on the
`Connector` port every calendar connector implements.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from oo_contracts.identity import Scope
from services.integrations.calendar.caldav_reader import CalDavCredentials
from services.integrations.calendar.ics_reader import IcsLink
from services.integrations.calendar.service import CalendarConnection, CalendarConnections
from services.kernel.http import AUTHENTICATED_ERRORS, BODY_ERRORS, error_responses, require_caller
from services.kernel.ports import Caller

# Connecting reads the provider, which may take seconds: these use cases open their own short
# transactions, none of them open while the provider answers.
ConnectingCaller = Annotated[Caller, Depends(require_caller(Scope.integrations_write))]
CALLBACK = "google_calendar_callback"


def _redirect(description: str) -> dict[int | str, dict[str, Any]]:
    return {302: {"description": description, "headers": {"Location": {"schema": {"type": "string"}}}}}


def build_router(connections: CalendarConnections) -> APIRouter:
    router = APIRouter(tags=["integrations"])

    @router.put(
        "/v1/me/integrations/caldav",
        response_model=CalendarConnection,
        summary="Connect a CalDAV calendar server with an app password",
        responses=error_responses(*AUTHENTICATED_ERRORS, *BODY_ERRORS, 409),
    )
    async def connect_caldav(credentials: CalDavCredentials, caller: ConnectingCaller) -> CalendarConnection:
        """The server's address (https://, or http:// on this machine), the user name and an app password.
        oO reads every calendar of that account at once, and that read is the check: 422
        `calendar_unauthorized` when the server refuses the password, `calendar_unreachable`,
        `calendar_not_caldav`, `calendar_invalid_url`. Only busy times are kept, never what the events
        are. The credentials are stored sealed, replace any before, and are never shown again. 409
        `consent_required` until the person grants `integration:caldav`."""
        return await connections.connect_caldav(caller, credentials)

    @router.put(
        "/v1/me/integrations/ics",
        response_model=CalendarConnection,
        summary="Connect a calendar by its secret subscription link (ICS)",
        responses=error_responses(*AUTHENTICATED_ERRORS, *BODY_ERRORS, 409),
    )
    async def connect_ics(link: IcsLink, caller: ConnectingCaller) -> CalendarConnection:
        """The calendar's secret address (https:// or webcal://). oO fetches it at once, and that fetch is
        the check: 422 `calendar_link_refused`, `calendar_unreachable`, `calendar_not_a_calendar`,
        `calendar_too_large`, `calendar_invalid_url`. Only busy times are kept. The link is stored
        sealed and never shown again. 409 `consent_required` until the person grants `integration:ics`."""
        return await connections.connect_ics(caller, link)

    @router.get(
        "/v1/integrations/google_calendar/connect",
        status_code=302,
        response_class=RedirectResponse,
        summary="Start connecting Google Calendar: a redirect to Google's consent screen",
        responses={**_redirect("To Google's consent screen."), **error_responses(*AUTHENTICATED_ERRORS, 404, 409)},
    )
    async def google_connect(request: Request, caller: ConnectingCaller) -> RedirectResponse:
        """For a browser: it comes back to `/v1/integrations/google_calendar/callback`. oO asks only to
        see when the person is busy (`calendar.freebusy`). 404 `integration_not_configured` when this
        server has no Google client; 409 `consent_required` until the person grants
        `integration:google_calendar`."""
        url = await connections.google_authorization_url(caller, str(request.url_for(CALLBACK)))
        return RedirectResponse(url, status_code=302)

    @router.get(
        "/v1/integrations/google_calendar/callback",
        name=CALLBACK,
        status_code=302,
        response_class=RedirectResponse,
        summary="Where Google sends the browser back: then on to the page",
        responses={
            **_redirect(
                "To the page: `/?integration=google_calendar&result=connected`, or `result=<code>` "
                "(`access_denied`, `state_unknown`, `state_expired`, `wrong_person`, `bad_code`, "
                "`google_misconfigured`, `scope_not_granted`, `consent_required`…)."
            ),
            **error_responses(*AUTHENTICATED_ERRORS, 422),
        },
    )
    async def google_callback(
        caller: ConnectingCaller,
        code: Annotated[str | None, Query(max_length=2048)] = None,
        state: Annotated[str | None, Query(max_length=512)] = None,
        error: Annotated[str | None, Query(max_length=256)] = None,
    ) -> RedirectResponse:
        """Each `state` works once, for the person who started the flow, within ten minutes."""
        return RedirectResponse(await connections.google_callback(caller, code, state, error), status_code=302)

    return router
