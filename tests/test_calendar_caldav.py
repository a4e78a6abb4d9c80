"""The CalDAV connector against a real Radicale on loopback: busy blocks only, recurrences expanded,
moved and deleted events gone after a refresh, nothing of what an event is stored anywhere, a clear 422
for credentials that do not work, a stale connection while the server is down, consent honoured."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import httpx

from services.bootstrap import Container
from tests.calendar_servers import Radicale, vevent
from tests.test_vault_canary import database_bytes

CALDAV = "/v1/me/integrations/caldav"


# The whole UTC hour the module was loaded in: whole seconds, as iCalendar writes them, and one base for
# every moment of a test even when an hour turns while it runs.
BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def hour(offset: timedelta) -> datetime:
    return BASE + offset


async def grant(client: httpx.AsyncClient, purpose: str, granted: bool = True) -> None:
    body = {"consents": [{"purpose": purpose, "granted": granted, "version": 1}]}
    response = await client.put("/v1/me/consents", json=body)
    assert response.status_code == 200, response.text


async def export(client: httpx.AsyncClient) -> dict:
    response = await client.get("/v1/me/export")
    assert response.status_code == 200
    exported: dict = response.json()
    return exported


async def busy(client: httpx.AsyncClient) -> list[tuple[datetime, datetime]]:
    state = (await export(client))["recommender"]["feature_state"]
    return [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in state["busy"]]


async def synced_events(client: httpx.AsyncClient) -> list[dict]:
    return [e for e in (await export(client))["events"]["events"] if e["type"] == "integrations.busy_synced.v1"]


def account_with_calendar(radicale: Radicale, *events: str):
    username, password = radicale.new_account()
    calendar = radicale.client(username, password).principal().make_calendar(name="Work")
    for event in events:
        calendar.save_event(event)
    return username, password, calendar


async def connect(client: httpx.AsyncClient, radicale: Radicale, username: str, password: str) -> httpx.Response:
    return await client.put(CALDAV, json={"url": radicale.url, "username": username, "password": password})


async def test_a_weekly_event_appears_as_its_occurrences_and_a_moved_or_deleted_one_disappears(
    client, container: Container, radicale: Radicale
):
    await grant(client, "integration:caldav")
    weekly_start = hour(timedelta(days=-14, hours=3))  # began two weeks ago: its next two fall in the window
    username, password, calendar = account_with_calendar(
        radicale,
        vevent("weekly", weekly_start, 45, rrule="FREQ=WEEKLY"),
        vevent("once", hour(timedelta(hours=5)), 30),
    )
    second = radicale.client(username, password).principal().make_calendar(name="Home")
    second.save_event(vevent("home", hour(timedelta(days=2, hours=1)), 60))

    response = await connect(client, radicale, username, password)

    assert response.status_code == 200, response.text
    assert response.json()["connected"] is True
    assert response.json()["stale"] is False
    assert password not in response.text
    week = timedelta(days=7)
    expected = sorted(
        [
            (weekly_start + 2 * week, weekly_start + 2 * week + timedelta(minutes=45)),
            (hour(timedelta(hours=5)), hour(timedelta(hours=5, minutes=30))),
            (hour(timedelta(days=2, hours=1)), hour(timedelta(days=2, hours=2))),
        ]
    )
    assert await busy(client) == expected

    moved = calendar.event_by_uid("once")
    moved.data = vevent("once", hour(timedelta(hours=8)), 30)
    moved.save()
    calendar.event_by_uid("weekly").delete()
    user_id = (await export(client))["user_id"]

    assert await container.calendars.calendars.caldav.refresh(user_id) == "refreshed"

    assert await busy(client) == [
        (hour(timedelta(hours=8)), hour(timedelta(hours=8, minutes=30))),
        (hour(timedelta(days=2, hours=1)), hour(timedelta(days=2, hours=2))),
    ]


async def test_an_unchanged_calendar_publishes_nothing_new(client, container: Container, radicale: Radicale):
    await grant(client, "integration:caldav")
    username, password, calendar = account_with_calendar(radicale, vevent("a", hour(timedelta(hours=3)), 60))
    assert (await connect(client, radicale, username, password)).status_code == 200
    user_id = (await export(client))["user_id"]

    assert await container.calendars.calendars.caldav.refresh(user_id) == "refreshed"
    assert await container.calendars.calendars.caldav.refresh(user_id) == "refreshed"
    assert len(await synced_events(client)) == 1

    calendar.save_event(vevent("b", hour(timedelta(hours=6)), 60))
    assert await container.calendars.calendars.caldav.refresh(user_id) == "refreshed"
    assert len(await synced_events(client)) == 2


async def test_events_that_do_not_make_the_person_busy_are_left_out(client, radicale: Radicale):
    await grant(client, "integration:caldav")
    tomorrow = hour(timedelta(days=1))
    day = tomorrow.strftime("%Y%m%d")
    all_day = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//oO tests//EN\r\nBEGIN:VEVENT\r\nUID:allday\r\n"
        f"DTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:{day}\r\nSUMMARY:Holiday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    username, password, _ = account_with_calendar(
        radicale,
        vevent("free", hour(timedelta(hours=2)), 60, extra="TRANSP:TRANSPARENT"),
        vevent("cancelled", hour(timedelta(hours=3)), 60, extra="STATUS:CANCELLED"),
        all_day,
        vevent("busy", hour(timedelta(hours=4)), 60, extra="TRANSP:OPAQUE"),
    )

    assert (await connect(client, radicale, username, password)).status_code == 200

    assert await busy(client) == [(hour(timedelta(hours=4)), hour(timedelta(hours=5)))]


async def test_what_an_event_is_appears_in_no_table_log_export_or_event(
    client,
    container: Container,
    settings,
    radicale: Radicale,
    logs,
):
    canary = {
        "title": f"canary-title-{secrets.token_hex(8)}",
        "attendee": f"canary-attendee-{secrets.token_hex(8)}@example.org",
        "location": f"canary-location-{secrets.token_hex(8)}",
        "description": f"canary-description-{secrets.token_hex(8)}",
    }
    await grant(client, "integration:caldav")
    event = vevent(
        "canary",
        hour(timedelta(hours=2)),
        60,
        summary=canary["title"],
        extra=f"ATTENDEE;CN=Someone:mailto:{canary['attendee']}\nLOCATION:{canary['location']}\n"
        f"DESCRIPTION:{canary['description']}",
        rrule="FREQ=DAILY;COUNT=3",
    )
    username, password, calendar = account_with_calendar(radicale, event)
    answers = [await connect(client, radicale, username, password)]
    assert answers[0].status_code == 200
    user_id = (await export(client))["user_id"]
    calendar.event_by_uid("canary").delete()
    assert await container.calendars.calendars.caldav.refresh(user_id) == "refreshed"
    answers.append(await client.get("/v1/me/export"))

    assert len(await synced_events(client)) == 2  # the event was read, then its deletion
    stored = await database_bytes(container, settings)
    seen = {
        "database": stored,
        "logs": logs.getvalue().encode(),
        "answers": b"".join(a.content for a in answers),
        "events": json.dumps([e.model_dump(mode="json") for e in container.events.bus.recent()]).encode(),
    }
    found = {(where, what) for where, text in seen.items() for what, value in canary.items() if value.encode() in text}
    assert found == set()
    assert password.encode() not in seen["logs"] + seen["answers"] + seen["database"]


async def test_credentials_that_do_not_work_are_a_clear_422(client, radicale: Radicale, ics_files):
    await grant(client, "integration:caldav")
    username, password, _ = account_with_calendar(radicale)
    _, not_caldav = ics_files
    refused = await client.put(CALDAV, json={"url": radicale.url, "username": username, "password": "wrong"})
    unreachable = await client.put(
        CALDAV, json={"url": "http://127.0.0.1:9/", "username": username, "password": password}
    )
    not_dav = await client.put(CALDAV, json={"url": not_caldav + "/", "username": username, "password": password})
    plain_http = await client.put(
        CALDAV, json={"url": "http://calendar.example.org/", "username": username, "password": password}
    )

    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "calendar_unauthorized")
    assert refused.json()["error"]["items"][0]["field"] == "password"
    assert (unreachable.status_code, unreachable.json()["error"]["code"]) == (422, "calendar_unreachable")
    assert (not_dav.status_code, not_dav.json()["error"]["code"]) == (422, "calendar_not_caldav")
    assert (plain_http.status_code, plain_http.json()["error"]["code"]) == (422, "calendar_invalid_url")
    listed = await client.get("/v1/me/export")
    assert listed.json()["integrations"]["connections"] == []
    assert "wrong" not in refused.text


async def test_without_consent_nothing_is_read_or_kept(client, radicale: Radicale):
    username, password, _ = account_with_calendar(radicale, vevent("a", hour(timedelta(hours=3)), 60))

    response = await connect(client, radicale, username, password)

    assert (response.status_code, response.json()["error"]["code"]) == (409, "consent_required")
    assert (await export(client))["integrations"]["connections"] == []
    assert await busy(client) == []


async def test_a_server_that_is_down_leaves_the_blocks_and_marks_the_connection_stale_until_it_answers(
    client, container: Container, radicale: Radicale
):
    await grant(client, "integration:caldav")
    block = (hour(timedelta(hours=3)), hour(timedelta(hours=4)))
    username, password, _ = account_with_calendar(radicale, vevent("a", block[0], 60))
    assert (await connect(client, radicale, username, password)).status_code == 200
    user_id = (await export(client))["user_id"]
    caldav = container.calendars.calendars.caldav

    radicale.stop()
    try:
        assert await caldav.refresh(user_id) == "failed"
        async with container.database.transaction(write=False) as uow:
            down = await container.integrations.connections.connection(uow, user_id, "caldav")
    finally:
        radicale.start()

    assert down is not None
    assert (down.stale, down.sync_error, down.connected) == (True, "unreachable", True)
    assert await busy(client) == [block]
    assert await caldav.refresh(user_id) == "refreshed"
    async with container.database.transaction(write=False) as uow:
        back = await container.integrations.connections.connection(uow, user_id, "caldav")
    assert back is not None
    assert (back.stale, back.sync_error) == (False, None)
    assert down.last_synced_at is not None
    assert back.last_synced_at is not None
    assert back.last_synced_at > down.last_synced_at


async def test_a_password_revoked_at_the_server_breaks_the_connection(client, container, radicale: Radicale):
    await grant(client, "integration:caldav")
    username, password, _ = account_with_calendar(radicale, vevent("a", hour(timedelta(hours=3)), 60))
    assert (await connect(client, radicale, username, password)).status_code == 200
    user_id = (await export(client))["user_id"]
    lines = radicale.users.read_text().splitlines()
    radicale.users.write_text("".join(f"{line}\n" for line in lines if not line.startswith(f"{username}:")))

    assert await container.calendars.calendars.caldav.refresh(user_id) == "failed"

    async with container.database.transaction(write=False) as uow:
        broken = await container.integrations.connections.connection(uow, user_id, "caldav")
    assert broken is not None
    assert (broken.connected, broken.sync_error) == (False, "unauthorized")
    assert len(await busy(client)) == 1


async def test_withdrawing_consent_forgets_the_calendar_and_stops_reading_it(
    client, container: Container, radicale: Radicale
):
    await grant(client, "integration:caldav")
    username, password, _ = account_with_calendar(radicale, vevent("a", hour(timedelta(hours=3)), 60))
    assert (await connect(client, radicale, username, password)).status_code == 200
    user_id = (await export(client))["user_id"]
    assert len(await busy(client)) == 1

    await grant(client, "integration:caldav", granted=False)

    state = (await export(client))["recommender"]["feature_state"]
    assert (state["busy"], state["calendar_known"]) == ([], False)
    # The withdrawal also deletes the credentials: oO keeps no grant for a purpose it may not serve.
    assert await container.calendars.calendars.caldav.refresh(user_id) == "not_allowed"
    assert (await busy(client)) == []

    await grant(client, "integration:caldav")
    assert await container.calendars.calendars.caldav.refresh(user_id) == "not_connected"
    assert (await connect(client, radicale, username, password)).status_code == 200
    assert len(await busy(client)) == 1  # published anew: the forgotten fingerprint no longer matches
