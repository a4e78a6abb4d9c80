"""The operator's event viewer on the JetStream mirror (ADR 0033): with NATS_URL set, an api process
shows the events another one stored, once the relay has mirrored them — filtered on the subject, never
a person's own words — and answers 503 `events_unavailable` while NATS cannot be reached."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from oo_contracts.events import EventEnvelope
from services.app import create_app
from services.bootstrap import Container, bootstrap
from services.events.jetstream import subject_filter
from services.events.watch import EventFilter
from services.settings import Settings
from tests.conftest import LOOPBACK
from tests.nats_server import NatsServer, with_nats
from tests.test_admin_events import CANARY, a_task, event, local_user, make_admin
from tests.test_relay import drain, envelope, relay_of, store

# The viewer reads NATS, not storage: one backend shows it (the topology's journey runs on Postgres).
ONE_BACKEND = pytest.mark.parametrize("backend", ["sqlite"])
ARRIVAL_SECONDS = 30  # the bound only catches what will never happen: an event comes or the test fails


async def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 50000)), base_url=LOOPBACK)


@pytest.fixture
async def two_apis(
    settings: Settings, nats_url: str
) -> AsyncIterator[tuple[Container, httpx.AsyncClient, Container, httpx.AsyncClient]]:
    """Two api processes' containers on one store and one NATS: the first stores, the second is watched."""
    settings = with_nats(settings, nats_url)
    stored, watched = bootstrap(settings), bootstrap(settings)
    await stored.prepare_storage()
    await watched.prepare_storage()
    app_1, app_2 = create_app(container=stored), create_app(container=watched)
    async with (
        app_1.router.lifespan_context(app_1),
        app_2.router.lifespan_context(app_2),
        await client_of(app_1) as one,
        await client_of(app_2) as two,
    ):
        await make_admin(watched, await local_user(two))
        yield stored, one, watched, two
    for container in (stored, watched):
        await container.close()


def test_a_filter_is_a_subject_no_value_can_widen() -> None:
    assert subject_filter(None, None) == "oo.user.*.>"
    assert subject_filter("usr_a", None) == "oo.user.usr_a.>"
    assert subject_filter(None, "profile.checkin_recorded.v2") == "oo.user.*.profile.checkin_recorded.v2"
    assert subject_filter("usr_a", "profile.checkin_recorded.v2") == "oo.user.usr_a.profile.checkin_recorded.v2"
    for user_id, event_type in [("usr_a.>", None), ("*", None), (">", None), ("", None), (None, "profile.>")]:
        with pytest.raises(ValueError, match="not a plain subject token"):
            subject_filter(user_id, event_type)
    with pytest.raises(ValueError, match="not a plain subject token"):
        subject_filter(None, "profile.*.v2")


@ONE_BACKEND
async def test_an_admin_sees_what_another_api_process_stored_once_relayed(two_apis, nats_server: NatsServer):
    stored, one, watched, two = two_apis
    me = await local_user(one)
    checkin = event("profile.checkin_recorded.v2", {"energy": 4})
    task = a_task()
    assert (await one.post("/v1/events", json={"events": [checkin, task]})).status_code == 200
    other = envelope("usr_other")
    await store(stored, [other])
    # Not relayed yet: the watched process's own bus never saw these, and the mirror has none.
    assert (await two.get("/v1/admin/events")).json() == []
    assert await drain(relay_of(stored)) >= 3  # with what making the local user stored before

    listed = (await two.get("/v1/admin/events")).json()
    assert [e["id"] for e in listed[:3]] == [str(other.id), task["id"], checkin["id"]]
    assert listed[1]["payload"]["title"] == f"[{len(CANARY)} chars]"
    assert CANARY not in json.dumps(listed)
    newest = (await two.get("/v1/admin/events", params={"limit": 1})).json()
    assert [e["id"] for e in newest] == [str(other.id)]
    only = (await two.get("/v1/admin/events", params={"type": "profile.checkin_recorded.v2"})).json()
    assert [e["id"] for e in only] == [checkin["id"]]
    mine = (await two.get("/v1/admin/events", params={"user_id": me})).json()
    assert [e["id"] for e in mine[:2]] == [task["id"], checkin["id"]]
    assert {e["user_id"] for e in mine} == {me}
    theirs = (await two.get("/v1/admin/events", params={"user_id": "usr_other", "type": other.type})).json()
    assert [e["id"] for e in theirs] == [str(other.id)]
    assert (await two.get("/v1/admin/events", params={"user_id": "usr_nobody"})).json() == []

    # The live stream: the recent ones oldest first, then each new one relayed, the filter held.
    async with watched.events.watch.watching(EventFilter(type=task["type"]), 100) as arriving:
        assert [str(e.id) for e in await first(arriving, 1)] == [task["id"]]
        later_checkin, later_task = event("profile.checkin_recorded.v2", {"mood": 3}), a_task()
        assert (await one.post("/v1/events", json={"events": [later_checkin, later_task]})).status_code == 200
        assert await drain(relay_of(stored)) == 2
        came = await first(arriving, 1)
    assert [str(e.id) for e in came] == [later_task["id"]]
    assert came[0].payload["title"] == CANARY  # the source has the words; `watched()` hides them, above

    nats_server.stop()
    try:
        for path in ("/v1/admin/events", "/v1/admin/events/stream"):
            refused = await two.get(path)
            assert (refused.status_code, refused.json()["error"]["code"]) == (503, "events_unavailable")
    finally:
        nats_server.start()


async def first(events: AsyncIterator[EventEnvelope], count: int) -> list[EventEnvelope]:
    async def take() -> list[EventEnvelope]:
        return [await anext(events) for _ in range(count)]

    return await asyncio.wait_for(take(), ARRIVAL_SECONDS)
