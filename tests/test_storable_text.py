"""Free text is refused in the contract when a database could not store it, alike on both backends.

Postgres cannot hold U+0000 in text or JSON, where SQLite can; a NUL in a task title once answered
500 on Postgres and was stored on SQLite. Every string a request may carry is constrained (an enum, a
format, a pattern); free text carries the no-NUL pattern, and each such field is tried here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DataError

from oo_contracts.events import INGESTIBLE_TYPES
from oo_contracts.text import NO_NUL_PATTERN
from services.app import create_app
from tests.conftest import bearer, new_user_with_token
from tests.test_events_ingress import stored_count

# A valid payload of every event type that carries free text: a new free-text field fails the first
# test below until it has one here.
VALID: dict[str, dict[str, Any]] = {
    "profile.habit_defined.v1": {"habit_id": "walk", "name": "a walk", "window_start_hour": 7, "window_end_hour": 9},
    "profile.habit_defined.v2": {
        "habit_id": "walk",
        "name": "a walk",
        "window_start_hour": 7,
        "window_end_hour": 9,
        "duration_minutes": 20,
    },
    "integrations.task_added.v1": {"task_id": "t1", "title": "Reply to Sam"},
    "integrations.task_added.v2": {"task_id": "t1", "title": "Reply to Sam", "due_date": date.today().isoformat()},
}
FREE_TEXT = sorted(
    (event_type, name)
    for event_type, model in INGESTIBLE_TYPES.items()
    for name, field in model.model_json_schema()["properties"].items()
    if field.get("pattern") == NO_NUL_PATTERN
)
# What people do type, and both backends store: accents, emoji, right-to-left marks, other controls.
UNUSUAL_BUT_STORABLE = "Réply to Sam — 🙂 \u202e\u0001\t"


def event(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return {"id": str(uuid.uuid4()), "type": event_type, "occurred_at": at, "payload": payload}


def test_every_free_text_field_has_a_valid_example_here():
    assert len(FREE_TEXT) >= 4
    assert {event_type for event_type, _ in FREE_TEXT} == set(VALID)


def _unconstrained_strings(schema: dict[str, Any], components: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _unconstrained_strings(components[name], components, name, seen)
    found: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found += _unconstrained_strings(option, components, where, seen)
    for name, field in schema.get("properties", {}).items():
        found += _unconstrained_strings(field, components, f"{where}.{name}", seen)
    if "items" in schema:
        found += _unconstrained_strings(schema["items"], components, f"{where}[]", seen)
    if schema.get("type") == "string" and not ({"enum", "const", "format", "pattern"} & schema.keys()):
        found.append(where)
    return found


def test_every_string_a_request_may_carry_is_constrained(settings):
    document = create_app(settings).openapi()
    components = document["components"]["schemas"]
    unconstrained = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if body:
                unconstrained += _unconstrained_strings(body["schema"], components, f"{method} {path}", set())
    assert unconstrained == []


@pytest.mark.parametrize(("event_type", "field"), FREE_TEXT)
async def test_a_nul_in_free_text_is_a_422_naming_it_and_nothing_is_stored(client, container, event_type, field):
    _, token = await new_user_with_token(container)
    before = await stored_count(container)
    hostile = event(event_type, {**VALID[event_type], field: "Reply\x00 to Sam"})
    response = await client.post("/v1/events", json={"events": [hostile]}, headers=bearer(token))
    assert response.status_code == 422, response.text
    [item] = response.json()["error"]["items"]
    assert (item["index"], item["field"]) == (0, f"payload.{field}")
    assert "NUL character" in item["problem"]
    assert await stored_count(container) == before

    typed = event(event_type, {**VALID[event_type], field: UNUSUAL_BUT_STORABLE})
    stored = await client.post("/v1/events", json={"events": [typed]}, headers=bearer(token))
    assert stored.status_code == 200, stored.text
    assert await stored_count(container) == before + 1


async def test_a_value_the_database_refuses_is_a_422_not_a_503_to_retry(settings):
    app: FastAPI = create_app(settings)

    @app.get("/unstorable")
    async def unstorable() -> None:
        raise DataError("INSERT …", {}, ValueError("invalid byte sequence"))

    from httpx import ASGITransport, AsyncClient

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        response = await client.get("/unstorable")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unstorable_value"
