"""The operator's event viewer: recent events and a live stream, for the admin role alone (ADR 0029)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

from oo_contracts.events import EVENT_TYPE_PATTERN
from oo_contracts.identity import Principal
from services.events.watch import EventWatch, WatchedEvent, matching, watched
from services.kernel.http import AUTHENTICATED_ERRORS, error_responses, require_admin

HEARTBEAT_SECONDS = 15  # a comment line now and then: proxies keep the stream, the browser sees it alive
TypeFilter = Annotated[str | None, Query(pattern=EVENT_TYPE_PATTERN, description="Only events of this type.")]
PersonFilter = Annotated[
    str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Only this person's events (`usr_…`).")
]


class AdminLink(BaseModel):
    """A tool beside oO the operator's page links out to (never embeds)."""

    name: str
    url: str


def build_admin_router(watch: EventWatch, links: list[AdminLink]) -> APIRouter:
    router = APIRouter()  # under the events tag of the router it joins: one tag, one entry in /docs

    @router.get(
        "/v1/admin/links",
        response_model=list[AdminLink],
        summary="The operator's tools beside oO, to link out to (admin)",
        responses=error_responses(*AUTHENTICATED_ERRORS),
    )
    async def tools(_admin: Annotated[Principal, Depends(require_admin)]) -> list[AdminLink]:
        """MLflow and the pipelines' UI, each where it is configured (`OO_EVENTS_MLFLOW_UI_URL`,
        `OO_EVENTS_PIPELINES_UI_URL`); none when neither is."""
        return links

    @router.get(
        "/v1/admin/events",
        response_model=list[WatchedEvent],
        summary="Recent events, newest first (admin)",
        responses=error_responses(*AUTHENTICATED_ERRORS, 422),
    )
    async def recent(
        _admin: Annotated[Principal, Depends(require_admin)],
        type: TypeFilter = None,
        user_id: PersonFilter = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[WatchedEvent]:
        """From this process's buffer of recent events; a person's own words are never shown."""
        return [watched(event) for event in watch.recent(matching(type, user_id), limit)]

    @router.get(
        "/v1/admin/events/stream",
        summary="Events as they happen, as Server-Sent Events (admin)",
        response_class=EventSourceResponse,
        responses={
            200: {"description": "`text/event-stream`: each event a `data:` line of JSON, as `/v1/admin/events`."},
            **error_responses(*AUTHENTICATED_ERRORS, 422),
        },
    )
    async def stream(
        _admin: Annotated[Principal, Depends(require_admin)],
        type: TypeFilter = None,
        user_id: PersonFilter = None,
    ) -> EventSourceResponse:
        """The recent ones first (oldest first), then each new one as it is stored."""
        matches = matching(type, user_id)

        async def events() -> AsyncIterator[ServerSentEvent]:
            async with watch.watching() as queue:
                for event in reversed(watch.recent(matches, 100)):
                    yield ServerSentEvent(data=watched(event).model_dump_json(), id=str(event.id))
                while True:
                    event = await queue.get()
                    if matches(event):
                        yield ServerSentEvent(data=watched(event).model_dump_json(), id=str(event.id))

        return EventSourceResponse(events(), ping=HEARTBEAT_SECONDS)

    return router
