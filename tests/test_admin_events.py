"""The operator's event viewer: recent events and a live Server-Sent Events stream, for the admin role
alone, filterable by type and person, never showing a person's own words; and its page in Chromium."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from oo_contracts.identity import Role
from services.bootstrap import Container
from tests.page_harness import DESKTOP, screenshot, until
from tests.postgres_cluster import free_port
from tests.test_processes import _env, oo, running

CANARY = "Canary-title-9ZK"
MLFLOW_UI = "http://127.0.0.1:5999/#/experiments"


def event(event_type: str, payload: dict) -> dict:
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return {"id": str(uuid.uuid4()), "type": event_type, "occurred_at": at, "payload": payload}


def a_task() -> dict:
    return event("integrations.task_added.v1", {"task_id": "t-canary", "title": CANARY, "estimated_minutes": 10})


async def local_user(client: httpx.AsyncClient) -> str:
    return str((await client.get("/v1/me")).json()["user_id"])


async def make_admin(container: Container, user_id: str) -> None:
    async with container.database.transaction() as uow:
        assert await container.auth.identity.set_role(uow, user_id, Role.admin) == "set"


async def test_only_an_admin_reads_the_recent_events_and_never_a_persons_words(client, container):
    me = await local_user(client)
    refused = await client.get("/v1/admin/events")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "admin_only")
    no_links = await client.get("/v1/admin/links")
    assert (no_links.status_code, no_links.json()["error"]["code"]) == (403, "admin_only")
    await make_admin(container, me)
    assert (await client.get("/v1/admin/links")).json() == []  # none configured: nothing to link to
    checkin = event("profile.checkin_recorded.v2", {"energy": 4})
    assert (await client.post("/v1/events", json={"events": [checkin, a_task()]})).status_code == 200

    listed = (await client.get("/v1/admin/events")).json()
    assert [e["type"] for e in listed[:2]] == ["integrations.task_added.v1", "profile.checkin_recorded.v2"]
    assert listed[0]["payload"]["title"] == f"[{len(CANARY)} chars]"
    assert CANARY not in json.dumps(listed)
    only = (await client.get("/v1/admin/events", params={"type": "profile.checkin_recorded.v2"})).json()
    assert [e["id"] for e in only] == [checkin["id"]]
    assert (await client.get("/v1/admin/events", params={"user_id": "usr_nobody"})).json() == []
    bad = await client.get("/v1/admin/events", params={"type": "not a type"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_request")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A real `oo serve` (a stream needs a real connection), local mode, its person an admin."""
    env = _env(tmp_path_factory.mktemp("admin-oo") / "data", OO_LOG_LEVEL="WARNING", OO_EVENTS_MLFLOW_UI_URL=MLFLOW_UI)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(env, "serve", "--port", str(port), url=f"{url}/ready"):
        user_id = httpx.get(f"{url}/v1/me").json()["user_id"]
        oo(env, "users", "role", user_id, "admin")
        yield url, env


def read_until(lines: Iterator[str], wanted: str, deadline: float) -> list[dict]:
    """The stream's events up to the one with id `wanted` (the deadline is the response's read timeout)."""
    seen = []
    for line in lines:
        if line.startswith("data:"):
            seen.append(json.loads(line.removeprefix("data:").strip()))
            if seen[-1]["id"] == wanted:
                return seen
        assert time.monotonic() < deadline, "the event never came"
    raise AssertionError("the stream ended")


def test_the_stream_brings_each_new_event_as_it_is_stored(served) -> None:
    url, _ = served
    task = a_task()
    checkin = event("profile.checkin_recorded.v2", {"mood": 3})
    with (
        httpx.Client(base_url=url, timeout=httpx.Timeout(30)) as api,
        api.stream("GET", "/v1/admin/events/stream", params={"type": task["type"]}) as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert api.post("/v1/events", json={"events": [checkin]}).is_success
        assert api.post("/v1/events", json={"events": [task]}).is_success
        seen = read_until(lines, task["id"], time.monotonic() + 30)
    assert {e["type"] for e in seen} == {task["type"]}  # the filter holds: no check-in came
    assert CANARY not in json.dumps(seen)


def test_the_viewer_page_watches_events_arrive(browser: Browser, served) -> None:
    url, _ = served
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{url}/admin")
    until(page, "() => document.getElementById('state').textContent === 'Watching.'")
    # MLflow is configured, the pipelines' UI is not: one link out, to its own tab, never embedded.
    until(page, "() => !document.getElementById('tools').hidden")
    tools = page.locator("#tools a")
    assert tools.all_inner_texts() == ["MLflow"]
    assert (tools.get_attribute("href"), tools.get_attribute("target")) == (MLFLOW_UI, "_blank")
    assert tools.get_attribute("rel") == "noopener noreferrer"
    assert page.locator("iframe").count() == 0
    habit = event(
        "profile.habit_defined.v2",
        {"habit_id": "h-admin", "name": CANARY, "window_start_hour": 7, "window_end_hour": 9},
    )
    assert httpx.post(f"{url}/v1/events", json={"events": [habit]}).is_success
    until(page, "() => document.getElementById('events').textContent.includes('profile.habit_defined.v2')")
    shown = page.locator("#events").inner_text()
    assert CANARY not in shown
    assert f"[{len(CANARY)} chars]" in shown
    screenshot(page, "admin-events-desktop")
    assert errors == []
    context.close()


def test_the_viewer_page_says_who_may_watch(browser: Browser, tmp_path: Path) -> None:
    env = _env(tmp_path / "data", OO_LOG_LEVEL="WARNING")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(env, "serve", "--port", str(port), url=f"{url}/ready"):
        page = browser.new_page()
        page.goto(f"{url}/admin")
        until(
            page, "() => document.getElementById('state').textContent.startsWith(\"This page is for oO's operators\")"
        )
        page.close()
