"""The operator's event viewer: recent events and a live stream, for the admin role alone (ADR 0029)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from oo_contracts.errors import ErrorBody
from oo_contracts.events import EVENT_TYPE_PATTERN
from oo_contracts.identity import Principal
from services.events.watch import EventFilter, EventSource, WatchedEvent, watched
from services.kernel.http import AUTHENTICATED_ERRORS, error_responses, require_admin

HEARTBEAT_SECONDS = 15  # a comment line now and then: proxies keep the stream, the browser sees it alive
TypeFilter = Annotated[str | None, Query(pattern=EVENT_TYPE_PATTERN, description="Only events of this type.")]
PersonFilter = Annotated[
    str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Only this person's events (`usr_…`).")
]
STREAM_OF_RECENT = 100  # the stream starts with this many recent events
VIEWER_ERRORS = {
    **error_responses(401, 403, 422),
    503: {
        "model": ErrorBody,
        "description": "Storage unavailable, or (`events_unavailable`) NATS, where the events are read when "
        "`NATS_URL` is set, cannot be reached; retry later.",
    },
}


class AdminLink(BaseModel):
    """A tool beside oO the operator's page links out to (never embeds)."""

    name: str
    url: str


def build_admin_router(source: EventSource, links: list[AdminLink]) -> APIRouter:
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
        responses=VIEWER_ERRORS,
    )
    async def recent(
        _admin: Annotated[Principal, Depends(require_admin)],
        type: TypeFilter = None,
        user_id: PersonFilter = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[WatchedEvent]:
        """Every process's events from the JetStream mirror when `NATS_URL` is set, else this process's
        buffer of recent events; a person's own words are never shown."""
        return [watched(event) for event in await source.recent(EventFilter(type, user_id), limit)]

    @router.get(
        "/v1/admin/events/stream",
        summary="Events as they happen, as Server-Sent Events (admin)",
        response_class=EventSourceResponse,
        responses={
            200: {"description": "`text/event-stream`: each event a `data:` line of JSON, as `/v1/admin/events`."},
            **VIEWER_ERRORS,
        },
    )
    async def stream(
        _admin: Annotated[Principal, Depends(require_admin)],
        type: TypeFilter = None,
        user_id: PersonFilter = None,
    ) -> EventSourceResponse:
        """The recent ones first (oldest first), then each new one as it is stored."""
        # Started here, not in the stream: a source that cannot be read is a 503 before any 200.
        watching = AsyncExitStack()
        arriving = await watching.enter_async_context(source.watching(EventFilter(type, user_id), STREAM_OF_RECENT))

        async def events() -> AsyncIterator[ServerSentEvent]:
            try:
                async for event in arriving:
                    yield ServerSentEvent(data=watched(event).model_dump_json(), id=str(event.id))
            finally:
                await watching.aclose()

        # The background task ends the watch too when the stream never started (the client left first);
        # closing it twice does nothing.
        return EventSourceResponse(events(), ping=HEARTBEAT_SECONDS, background=BackgroundTask(watching.aclose))

    return router
