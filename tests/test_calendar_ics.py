"""The ICS-link connector against a real web server on loopback: the feed's recurrences expanded, a
changed feed replacing the blocks, a clear 422 for a link that does not work, bounded in time, size and
redirects, and a stale connection (blocks kept) while the server fails."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.bootstrap import Container
from services.integrations.calendar.settings import CalendarSettings
from tests.calendar_servers import StaticFiles, vevent

ICS = "/v1/me/integrations/ics"
BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
TIMEOUT_SECONDS = 1.0
MAX_BYTES = 20_000


@pytest.fixture
async def settings(settings):
    # Short enough that a slow server is a timeout within the test; small enough to meet the size cap.
    calendar = CalendarSettings(calendar_timeout_seconds=TIMEOUT_SECONDS, calendar_ics_max_bytes=MAX_BYTES)
    return replace(settings, calendar=calendar)


def hour(offset: timedelta) -> datetime:
    return BASE + offset


async def grant(client: httpx.AsyncClient) -> None:
    body = {"consents": [{"purpose": "integration:ics", "granted": True, "version": 1}]}
    assert (await client.put("/v1/me/consents", json=body)).status_code == 200


async def export(client: httpx.AsyncClient) -> dict:
    exported: dict = (await client.get("/v1/me/export")).json()
    return exported


async def busy(client: httpx.AsyncClient) -> list[tuple[datetime, datetime]]:
    state = (await export(client))["recommender"]["feature_state"]
    return [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in state["busy"]]


def serve(files: StaticFiles, body: str | bytes, status: int = 200) -> str:
    path = f"/cal/{secrets.token_hex(8)}.ics"
    files.bodies[path] = (status, body.encode() if isinstance(body, str) else body)
    return path


async def connection(container: Container, user_id: str):
    async with container.database.transaction(write=False) as uow:
        return await container.integrations.connections.connection(uow, user_id, "ics")


async def test_a_feed_is_read_and_a_changed_feed_replaces_its_blocks(client, container: Container, ics_files):
    files, base = ics_files
    await grant(client)
    path = serve(files, vevent("daily", hour(timedelta(hours=-30)), 30, rrule="FREQ=DAILY;COUNT=4"))

    response = await client.put(ICS, json={"url": base + path})

    assert response.status_code == 200, response.text
    assert path not in response.text
    # Four days from 30 hours ago: the first two are past, the third and fourth lie ahead.
    third, fourth = hour(timedelta(hours=18)), hour(timedelta(hours=42))
    assert await busy(client) == [(third, third + timedelta(minutes=30)), (fourth, fourth + timedelta(minutes=30))]

    files.bodies[path] = (200, vevent("daily", hour(timedelta(hours=5)), 60).encode())
    user_id = (await export(client))["user_id"]
    assert await container.calendars.calendars.ics.refresh(user_id) == "refreshed"
    assert await busy(client) == [(hour(timedelta(hours=5)), hour(timedelta(hours=6)))]


async def test_a_webcal_link_is_read_over_https_rules(client, ics_files):
    await grant(client)
    response = await client.put(ICS, json={"url": "webcal://calendar.invalid/feed.ics"})
    # webcal:// is https://: a host that does not resolve is unreachable, not an invalid URL.
    assert (response.status_code, response.json()["error"]["code"]) == (422, "calendar_unreachable")


async def test_a_link_that_does_not_work_is_a_clear_422(client, ics_files):
    files, base = ics_files
    await grant(client)
    gone = serve(files, "gone", status=404)
    html = serve(files, "<html><body>Sign in</body></html>")
    large = serve(files, vevent("big", hour(timedelta(hours=2)), extra="X-PAD:" + "x" * 70 + "\n") * 400)
    files.redirects["/loop-a"], files.redirects["/loop-b"] = base + "/loop-b", base + "/loop-a"
    files.redirects["/away"] = "http://calendar.example.org/feed.ics"

    answers = {
        name: await client.put(ICS, json={"url": url})
        for name, url in {
            "gone": base + gone,
            "html": base + html,
            "large": base + large,
            "loop": base + "/loop-a",
            "away": base + "/away",
            "plain_http": "http://calendar.example.org/feed.ics",
            "ftp": "ftp://calendar.example.org/feed.ics",
            "bad_port": "https://calendar.example.org:99999/feed.ics",
            "bad_host": "https://[calendar/feed.ics",
        }.items()
    }

    codes = {name: (answer.status_code, answer.json()["error"]["code"]) for name, answer in answers.items()}
    assert codes == {
        "gone": (422, "calendar_link_refused"),
        "html": (422, "calendar_not_a_calendar"),
        "large": (422, "calendar_too_large"),
        "loop": (422, "calendar_unreachable"),
        "away": (422, "calendar_invalid_url"),
        "plain_http": (422, "calendar_invalid_url"),
        "ftp": (422, "invalid_request"),  # refused by the schema: https, http or webcal only
        "bad_port": (422, "calendar_invalid_url"),
        "bad_host": (422, "calendar_invalid_url"),
    }
    assert (await export(client))["integrations"]["connections"] == []


async def test_a_failing_server_leaves_the_blocks_and_the_connection_stale_until_it_answers(
    client, container: Container, ics_files
):
    files, base = ics_files
    await grant(client)
    block = (hour(timedelta(hours=3)), hour(timedelta(hours=4)))
    path = serve(files, vevent("a", block[0], 60))
    assert (await client.put(ICS, json={"url": base + path})).status_code == 200
    user_id = (await export(client))["user_id"]
    ics = container.calendars.calendars.ics
    good = files.bodies[path]

    files.bodies[path] = (500, b"oops")
    assert await ics.refresh(user_id) == "failed"
    broken_server = await connection(container, user_id)
    files.bodies[path] = good
    files.delay = TIMEOUT_SECONDS * 3
    try:
        assert await ics.refresh(user_id) == "failed"
        slow_server = await connection(container, user_id)
    finally:
        files.delay = 0.0

    assert (broken_server.stale, broken_server.sync_error, broken_server.connected) == (True, "unavailable", True)
    assert (slow_server.stale, slow_server.sync_error, slow_server.connected) == (True, "unreachable", True)
    assert await busy(client) == [block]
    assert await ics.refresh(user_id) == "refreshed"
    back = await connection(container, user_id)
    assert (back.stale, back.sync_error) == (False, None)
    assert await busy(client) == [block]


async def test_the_secret_link_appears_in_no_log_line_or_answer(
    client,
    container: Container,
    ics_files,
    logs,
):
    files, base = ics_files
    await grant(client)
    path = serve(files, vevent("a", hour(timedelta(hours=3)), 60))
    secret = path.rsplit("/", 1)[1]

    answers = [await client.put(ICS, json={"url": base + path})]
    user_id = (await export(client))["user_id"]
    files.bodies[path] = (500, b"oops")
    assert await container.calendars.calendars.ics.refresh(user_id) == "failed"
    answers.append(await client.get("/v1/me/export"))

    assert answers[0].status_code == 200
    assert secret not in logs.getvalue()
    assert all(secret not in answer.text for answer in answers)
