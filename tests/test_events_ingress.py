"""POST /v1/events: all-or-nothing batches, idempotent by event id, errors that name the item."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from services.bootstrap import Container, bootstrap
from services.events.tables import events_store
from services.migrations.runner import upgrade_to_head
from tests.conftest import bearer, empty_postgres_url, make_settings, new_user_with_token, upgrade_to
from tests.events_factory import checkin, context


async def stored_count(container: Container) -> int:
    async with container.database.transaction(write=False) as uow:
        return int((await uow.connection.execute(select(func.count()).select_from(events_store))).scalar_one())


async def test_batch_is_stored_and_a_replay_stores_nothing_twice(client: httpx.AsyncClient, container: Container):
    _, token = await new_user_with_token(container)
    batch = {"events": [checkin(), context(), checkin(1, 2)]}
    first = await client.post("/v1/events", json=batch, headers=bearer(token))
    assert first.status_code == 200, first.text
    assert sorted(first.json()["stored"]) == sorted(e["id"] for e in batch["events"])
    assert first.json()["already_known"] == []
    before = await stored_count(container)

    batch["events"].append(checkin(5, 5))
    replay = await client.post("/v1/events", json=batch, headers=bearer(token))
    assert replay.status_code == 200
    assert replay.json()["stored"] == [batch["events"][3]["id"]]
    assert sorted(replay.json()["already_known"]) == sorted(e["id"] for e in batch["events"][:3])
    assert await stored_count(container) == before + 1


async def test_unknown_type_rejects_the_whole_batch_and_names_the_item(client, container):
    _, token = await new_user_with_token(container)
    before = await stored_count(container)
    bad = checkin()
    bad["type"] = "profile.telepathy.v1"
    response = await client.post("/v1/events", json={"events": [checkin(), bad]}, headers=bearer(token))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_batch"
    assert [(i["index"], i["id"]) for i in error["items"]] == [(1, bad["id"])]
    assert "unknown event type" in error["items"][0]["problem"]
    assert await stored_count(container) == before


async def test_payload_failing_its_schema_names_item_and_field(client, container):
    _, token = await new_user_with_token(container)
    before = await stored_count(container)
    bad_zone = context(timezone="Mars/Olympus_Mons")
    response = await client.post(
        "/v1/events", json={"events": [checkin(), checkin(energy=9), bad_zone]}, headers=bearer(token)
    )
    assert response.status_code == 422
    items = response.json()["error"]["items"]
    assert {(i["index"], i["field"]) for i in items} == {(1, "payload.energy"), (2, "payload.timezone")}
    assert await stored_count(container) == before


async def test_timestamp_too_far_in_the_future_is_rejected(client, container):
    _, token = await new_user_with_token(container)
    before = await stored_count(container)
    future = checkin(at=datetime.now(UTC) + timedelta(hours=1))
    response = await client.post("/v1/events", json={"events": [checkin(), future]}, headers=bearer(token))
    assert response.status_code == 422
    assert [(i["index"], i["field"]) for i in response.json()["error"]["items"]] == [(1, "occurred_at")]
    assert await stored_count(container) == before


async def test_timestamp_without_offset_is_rejected(client, container):
    _, token = await new_user_with_token(container)
    naive = checkin()
    naive["occurred_at"] = "2026-11-25T10:00:00"
    response = await client.post("/v1/events", json={"events": [naive]}, headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"]["items"][0]["field"] == "occurred_at"


async def test_oversize_batch_is_rejected_whole(client, container):
    _, token = await new_user_with_token(container)
    before = await stored_count(container)
    response = await client.post("/v1/events", json={"events": [checkin() for _ in range(501)]}, headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"]["items"][0]["field"] == "events"
    assert "500" in response.json()["error"]["items"][0]["problem"]
    assert await stored_count(container) == before


async def test_same_id_twice_in_one_batch_is_rejected(client, container):
    _, token = await new_user_with_token(container)
    twin = checkin()
    response = await client.post("/v1/events", json={"events": [twin, checkin(), dict(twin)]}, headers=bearer(token))
    assert response.status_code == 422
    assert [(i["index"], i["field"]) for i in response.json()["error"]["items"]] == [(2, "id")]


async def test_reused_id_with_other_content_is_a_conflict_and_stores_nothing(client, container):
    _, token = await new_user_with_token(container)
    original = checkin(2, 2)
    assert (await client.post("/v1/events", json={"events": [original]}, headers=bearer(token))).status_code == 200
    before = await stored_count(container)

    changed = {**original, "payload": {"energy": 5, "mood": 5}}
    fresh = checkin()
    response = await client.post("/v1/events", json={"events": [fresh, changed]}, headers=bearer(token))
    assert response.status_code == 409
    assert [(i["index"], i["id"]) for i in response.json()["error"]["items"]] == [(1, original["id"])]

    assert await stored_count(container) == before


async def test_event_ids_are_unique_per_person(client, container):
    first_user, token = await new_user_with_token(container)
    other_user, other_token = await new_user_with_token(container)
    original = checkin(2, 2)
    assert (await client.post("/v1/events", json={"events": [original]}, headers=bearer(token))).status_code == 200
    before = await stored_count(container)

    # Another person's event under the same id is theirs: stored, and it tells them nothing of the first.
    same_id = {**original, "payload": {"energy": 5, "mood": 5}}
    theirs = await client.post("/v1/events", json={"events": [same_id]}, headers=bearer(other_token))
    assert theirs.status_code == 200, theirs.text
    assert theirs.json() == {"stored": [original["id"]], "already_known": []}
    assert await stored_count(container) == before + 1

    # Each person's replay is still a replay, and each export holds only their own content.
    again = await client.post("/v1/events", json={"events": [original]}, headers=bearer(token))
    assert again.json() == {"stored": [], "already_known": [original["id"]]}
    async with container.database.transaction(write=False) as uow:
        mine = await container.events.user_data.export_user(uow, first_user)
        yours = await container.events.user_data.export_user(uow, other_user)
    assert [e.payload["energy"] for e in mine.events if str(e.id) == original["id"]] == [2]
    assert [e.payload["energy"] for e in yours.events if str(e.id) == original["id"]] == [5]


async def test_unparsable_json_is_a_400(client, container):
    _, token = await new_user_with_token(container)
    response = await client.post(
        "/v1/events", content=b'{"events": [', headers={**bearer(token), "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


async def test_body_over_the_limit_is_a_413(client, container):
    _, token = await new_user_with_token(container)
    body = b'{"events": [' + b" " * (3 * 1024 * 1024) + b"]}"
    response = await client.post(
        "/v1/events", content=body, headers={**bearer(token), "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_a_chunked_body_over_the_limit_is_a_413(client, container):
    _, token = await new_user_with_token(container)

    async def chunks():  # no Content-Length: the size is known only while the body streams in
        yield b'{"events": ['
        for _ in range(3 * 1024):
            yield b" " * 1024
        yield b"]}"

    response = await client.post(
        "/v1/events", content=chunks(), headers={**bearer(token), "content-type": "application/json"}
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_a_chunked_body_within_the_limit_is_read_whole(client, container):
    _, token = await new_user_with_token(container)
    event = checkin()

    async def chunks():
        body = json.dumps({"events": [event]}).encode()
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    response = await client.post(
        "/v1/events", content=chunks(), headers={**bearer(token), "content-type": "application/json"}
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": [event["id"]], "already_known": []}


async def test_events_are_dispatched_after_commit_only(client, container):
    _, token = await new_user_with_token(container)
    seen: list[uuid.UUID] = []

    async def remember(event):
        seen.append(event.id)

    container.events.bus.subscribe("profile.checkin_recorded.v1", remember)
    good = checkin()
    assert (await client.post("/v1/events", json={"events": [good]}, headers=bearer(token))).status_code == 200
    assert seen == [uuid.UUID(good["id"])]
    assert container.events.bus.recent(1)[0].id == uuid.UUID(good["id"])

    # A replay stores nothing new, so nothing is dispatched again.
    await client.post("/v1/events", json={"events": [good]}, headers=bearer(token))
    # A rejected batch never reaches subscribers, not even its valid items.
    rejected = checkin()
    await client.post("/v1/events", json={"events": [rejected, checkin(energy=0)]}, headers=bearer(token))
    assert seen == [uuid.UUID(good["id"])]


async def test_a_failing_subscriber_does_not_fail_the_request(client, container):
    _, token = await new_user_with_token(container)

    async def broken(_event):
        raise RuntimeError("subscriber bug")

    container.events.bus.subscribe("*", broken)
    response = await client.post("/v1/events", json={"events": [checkin()]}, headers=bearer(token))
    assert response.status_code == 200


async def test_implausible_moments_are_422_not_500(client, container):
    _, token = await new_user_with_token(container)
    for moment in ("0001-01-01T00:00:00+01:00", "1999-12-31T23:00:00Z", "9999-12-31T23:59:59-05:00"):
        event = checkin()
        event["occurred_at"] = moment
        response = await client.post("/v1/events", json={"events": [event]}, headers=bearer(token))
        assert response.status_code == 422, moment
        assert response.json()["error"]["items"][0]["field"] == "occurred_at"


async def test_the_per_person_id_migration_keeps_every_stored_event(tmp_path, backend, request):
    url = None
    if backend == "postgres":
        url = await empty_postgres_url(request.getfixturevalue("postgres_cluster"))
    container = bootstrap(make_settings(tmp_path, url))
    at = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    rows = [
        {
            "event_id": uuid.uuid4(),
            "type": "profile.checkin_recorded.v1",
            "user_id": user,
            "occurred_at": at,
            "recorded_at": at,
            "source": "test",
            "schema_version": 1,
            "payload": {"energy": 3, "mood": 3},
        }
        for user in ("usr_a", "usr_a", "usr_b")
    ]
    async with container.database.engine.begin() as connection:
        await connection.run_sync(upgrade_to(container.database, "0005"))
        await connection.execute(events_store.insert(), rows)
    await upgrade_to_head(container.database)
    async with container.database.transaction(write=False) as uow:
        kept = (await uow.connection.execute(select(events_store.c.event_id).order_by(events_store.c.seq))).scalars()
        ids = list(kept)
    await container.database.dispose()
    assert ids == [row["event_id"] for row in rows]
