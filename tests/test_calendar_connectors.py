"""What every calendar connector owes the `Connector` port, whatever its provider, and the scheduled
refresh: every connected calendar read, a broken one left alone, one refresh per person at a time."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from oo_contracts.consents import INTEGRATIONS, ConsentPurpose
from oo_contracts.events import BusyBlock, BusySynced, EventEnvelope, envelope
from services.bootstrap import Container
from services.integrations.calendar.settings import CalendarSettings
from services.integrations.connector import Connector
from tests.calendar_servers import StaticFiles, vevent
from tests.conftest import bearer, new_user_with_token

PROVIDERS = ["caldav", "ics", "google_calendar"]
BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DELAY_SECONDS = 0.3


@pytest.fixture
async def settings(settings):
    return replace(settings, calendar=CalendarSettings(calendar_refresh_seconds=3600))


def connector_of(container: Container, provider: str) -> Connector:
    connectors: dict[str, Connector] = {c.provider: c for c in container.calendars.all}
    return connectors[provider]


async def grant(client: httpx.AsyncClient, purpose: str, token: str, granted: bool = True) -> None:
    body = {"consents": [{"purpose": purpose, "granted": granted, "version": 1}]}
    assert (await client.put("/v1/me/consents", json=body, headers=bearer(token))).status_code == 200


async def busy(client: httpx.AsyncClient, token: str) -> list[tuple[datetime, datetime]]:
    state = (await client.get("/v1/me/export", headers=bearer(token))).json()["recommender"]["feature_state"]
    return [] if state is None else [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in state["busy"]]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_each_calendar_connector_keeps_the_port(client, container: Container, provider: str):
    connector = connector_of(container, provider)
    user_id, token = await new_user_with_token(container)

    assert provider in INTEGRATIONS
    assert connector.consent is ConsentPurpose(f"integration:{provider}")
    assert container.integrations.revokers[provider] is connector.revoker
    assert await connector.refresh(user_id) == "not_allowed"  # never answered: integrations wait for a yes
    await grant(client, connector.consent.value, token)
    assert await connector.refresh(user_id) == "not_connected"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_forgetting_takes_away_only_that_calendars_blocks(client, container: Container, provider: str):
    user_id, token = await new_user_with_token(container)
    await grant(client, "core", token)
    posted = (BASE + timedelta(hours=1), BASE + timedelta(hours=2))
    event = {
        "id": str(uuid.uuid4()),
        "type": "integrations.busy_interval_recorded.v1",
        "occurred_at": datetime.now(UTC).isoformat(),
        "payload": {"start": posted[0].isoformat(), "end": posted[1].isoformat()},
    }
    assert (await client.post("/v1/events", json={"events": [event]}, headers=bearer(token))).status_code == 200
    other = next(p for p in PROVIDERS if p != provider)
    async with container.database.transaction() as uow:
        await container.events.bus.publish(uow, [synced(user_id, provider), synced(user_id, other)])
    assert len(await busy(client, token)) == 3

    async with container.database.transaction() as uow:
        await connector_of(container, provider).forget(uow, user_id)

    exported = (await client.get("/v1/me/export", headers=bearer(token))).json()
    forgotten = [e["payload"] for e in exported["events"]["events"] if e["type"].endswith("provider_forgotten.v1")]
    assert forgotten == [{"provider": provider}]
    assert len(await busy(client, token)) == 2
    assert posted in await busy(client, token)
    # What was read from the forgotten calendar is gone from the store too; the other calendar's stays.
    stored = exported["events"]["events"]
    assert [e["payload"]["calendar"] for e in stored if e["type"] == "integrations.busy_synced.v1"] == [other]
    recent = container.events.bus.recent()
    assert [e.payload["calendar"] for e in recent if e.type == "integrations.busy_synced.v1"] == [other]


def synced(user_id: str, calendar: str) -> EventEnvelope:
    """A read of `calendar`: one busy block in its window, as its connector publishes it."""
    start = BASE + timedelta(hours=3 + PROVIDERS.index(calendar))
    blocks = BusySynced(
        calendar=calendar,
        window_start=BASE,
        window_end=BASE + timedelta(days=7),
        intervals=[BusyBlock(start=start, end=start + timedelta(minutes=30))],
    )
    return envelope(
        event_id=uuid.uuid4(),
        event_type="integrations.busy_synced.v1",
        user_id=user_id,
        occurred_at=datetime.now(UTC),
        source="integrations",
        payload=blocks,
    )


async def serve(files: StaticFiles, start: datetime) -> str:
    path = f"/cal/{secrets.token_hex(8)}.ics"
    files.bodies[path] = (200, vevent("a", start, 60).encode())
    return path


async def connect_ics(client: httpx.AsyncClient, token: str, url: str) -> None:
    await grant(client, "integration:ics", token)
    response = await client.put("/v1/me/integrations/ics", json={"url": url}, headers=bearer(token))
    assert response.status_code == 200, response.text


async def test_the_scheduled_refresh_reads_every_connected_calendar_and_leaves_a_broken_one(
    client, container: Container, ics_files
):
    files, base = ics_files
    people = [await new_user_with_token(container) for _ in range(3)]
    paths = [await serve(files, BASE + timedelta(hours=2)) for _ in people]
    for (_, token), path in zip(people, paths, strict=True):
        await connect_ics(client, token, base + path)
    broken_id = people[2][0]
    async with container.database.transaction() as uow:
        await container.integrations.connections.mark_broken(uow, broken_id, "ics")
    for path in paths:
        files.bodies[path] = (200, vevent("a", BASE + timedelta(hours=5), 60).encode())
    asked = len(files.requests)

    # The schedule as it runs: the periodic fan-out defers one job per person, and the jobs run.
    fan_out = next(periodic for periodic in container.jobs.schedule if periodic.name == "calendar_refresh")
    await fan_out.run()
    await container.jobs.idle()

    moved = [(BASE + timedelta(hours=5), BASE + timedelta(hours=6))]
    kept = [(BASE + timedelta(hours=2), BASE + timedelta(hours=3))]
    assert [await busy(client, token) for _, token in people] == [moved, moved, kept]
    assert sorted(files.requests[asked:]) == sorted(paths[:2])


async def test_one_refresh_per_person_at_a_time_and_people_in_parallel(client, container: Container, ics_files):
    files, base = ics_files
    (first, first_token), (second, second_token) = [await new_user_with_token(container) for _ in range(2)]
    for token in (first_token, second_token):
        await connect_ics(client, token, base + await serve(files, BASE + timedelta(hours=2)))
    ics = connector_of(container, "ics")

    files.delay, files.most_in_flight = DELAY_SECONDS, 0
    try:
        alone = await asyncio.gather(*(ics.refresh(first) for _ in range(3)))
        one_person_at_once = files.most_in_flight
        files.most_in_flight = 0
        together = await asyncio.gather(ics.refresh(first), ics.refresh(second))
        two_people_at_once = files.most_in_flight
    finally:
        files.delay = 0.0

    assert alone == ["refreshed"] * 3
    assert list(together) == ["refreshed", "refreshed"]
    assert (one_person_at_once, two_people_at_once) == (1, 2)


async def test_the_api_process_runs_the_calendar_refresh_on_its_schedule(app):
    jobs = app.state.container.jobs
    assert jobs.running  # the embedded default: the api runs the jobs
    every = {periodic.name: periodic.every_seconds for periodic in jobs.schedule}
    assert every["calendar_refresh"] == app.state.container.settings.calendar.calendar_refresh_seconds


async def test_google_calendar_is_offered_only_where_the_server_has_a_google_client(client, container: Container):
    _, token = await new_user_with_token(container)
    listed = (await client.get("/v1/me/integrations", headers=bearer(token))).json()["integrations"]
    assert [i["provider"] for i in listed] == ["caldav", "ics"]  # a Connect this server could not honour is not shown


def test_a_host_no_resolver_can_spell_is_an_invalid_address_on_the_servers_event_loop():
    """`oo serve` runs on uvloop, whose resolver raises UnicodeError where asyncio's raises OSError: a
    fuzzed address once made a 500 of it."""
    import uvloop

    from services.integrations.calendar.reading import CalendarUnavailable, check_reachable_url

    async def check() -> str:
        with pytest.raises(CalendarUnavailable) as refused:
            await check_reachable_url("https://d\x92x.example/", local_mode=False, what="CalDAV address")
        return refused.value.code

    assert uvloop.run(check()) == "invalid_url"
