"""oO connected to the session's Todoist simulator: the settings, the app, and the OAuth round trip a
person makes on the page, each step over real HTTP between oO's client code and the simulator."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from ml.features.state import FeatureState
from services.app import create_app
from services.bootstrap import Container, bootstrap
from services.integrations.api import TodoistSettings
from services.settings import Settings
from tests.conftest import LOOPBACK
from tests.events_factory import context, daytime_zone
from tests.todoist_sim import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, TodoistSim


def todoist_settings(sim: TodoistSim, **overrides: Any) -> TodoistSettings:
    return TodoistSettings(
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        redirect_uri=REDIRECT_URI,
        api_url=sim.base_url,
        oauth_url=f"{sim.base_url}/oauth",
        **overrides,
    )


@pytest.fixture
async def linked(
    settings: Settings, todoist: TodoistSim, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    """oO on loopback (local mode) with its Todoist app pointed at the simulator."""
    marker = request.node.get_closest_marker("todoist_settings")
    overrides = marker.kwargs if marker is not None else {}
    container = bootstrap(dataclasses.replace(settings, todoist=todoist_settings(todoist, **overrides)))
    await container.prepare_storage()
    app: FastAPI = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
            yield container, client
    await container.database.dispose()


async def grant(client: httpx.AsyncClient, granted: bool = True) -> None:
    update = {"consents": [{"purpose": "integration:todoist", "granted": granted, "version": 1}]}
    assert (await client.put("/v1/me/consents", json=update)).status_code == 200


async def begin(client: httpx.AsyncClient, *, complete_tasks: bool = False) -> str:
    await grant(client)
    response = await client.post("/v1/me/integrations/todoist/authorization", json={"complete_tasks": complete_tasks})
    assert response.status_code == 200, response.text
    return str(response.json()["authorize_url"])


def consent_at_todoist(sim: TodoistSim, authorize_url: str, *, decision: str = "allow", user: str = "demo") -> dict:
    """The person at Todoist's consent screen: the query Todoist sends them back to oO with."""
    sim.control("POST", "/_sim/authorize", {"user": user, "decision": decision})
    answer = sim.http.get(authorize_url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI)
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def back_at_oo(client: httpx.AsyncClient, query: dict) -> str:
    """oO's callback: always a 303 to the page, whose query says how it went."""
    response = await client.get("/v1/integrations/todoist/callback", params=query)
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert (location.netloc, location.path) == ("", "/")  # oO's own page, never elsewhere
    return parse_qs(location.query)["result"][0]


async def connect(
    container: Container, client: httpx.AsyncClient, sim: TodoistSim, *, complete_tasks: bool = False
) -> None:
    url = await begin(client, complete_tasks=complete_tasks)
    assert await back_at_oo(client, consent_at_todoist(sim, url)) == "connected"
    await container.jobs.idle()  # the first read runs in the background


def add_task(sim: TodoistSim, content: str, *, user: str = "demo", **fields: Any) -> dict:
    return dict(sim.control("POST", f"/_sim/users/{user}/tasks", {"content": content, **fields}))


async def feature_state(client: httpx.AsyncClient) -> FeatureState:
    export = (await client.get("/v1/me/export")).json()
    return FeatureState.model_validate(export["recommender"]["feature_state"])


def calls(sim: TodoistSim, method: str, path_part: str) -> list[dict]:
    return [c for c in sim.control("GET", "/_sim/calls") if c["method"] == method and path_part in c["path"]]


async def tip_about(client: httpx.AsyncClient, task_id: str, tries: int = 60) -> dict:
    """Ask until the tip on show is about the task, answering "Later" to the others."""
    for _ in range(tries):
        body = (await client.post("/v1/recommend", json={})).json()
        tip = body["tip"]
        if tip is not None and tip["id"] == f"task:{task_id}":
            return dict(body)
        if tip is not None:
            reaction = {"decision_id": body["decision_id"], "reaction": "later"}
            assert (await client.post("/v1/feedback", json=reaction)).status_code == 200
    raise AssertionError(f"no tip about {task_id} in {tries} asks")


async def a_day(client: httpx.AsyncClient) -> None:
    """A check-in, so that the first-run steps are behind the person and tasks can be tips, at noon in
    the person's zone, when a task is worth offering."""
    events = [
        context(daytime_zone()),
        {
            "id": str(uuid.uuid4()),
            "type": "profile.checkin_recorded.v2",
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            "payload": {"energy": 4, "mood": 4},
        },
    ]
    assert (await client.post("/v1/events", json={"events": events})).status_code == 200
