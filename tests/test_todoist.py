"""Todoist connected through the official SDK to the simulator over real HTTP: the OAuth flow, tasks
read without their text at rest, refreshes that publish only changes, webhooks as verified hints,
Done completing in Todoist when allowed, failures kept stale, and disconnection forgetting it all."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from services.integrations.tables import integrations_connections
from services.kernel.schema import metadata
from tests.conftest import bearer, new_user_with_token
from tests.todoist_flow import (
    a_day,
    add_task,
    back_at_oo,
    begin,
    calls,
    connect,
    consent_at_todoist,
    feature_state,
    grant,
    linked,
    tip_about,
)
from tests.todoist_sim import CLIENT_ID, CLIENT_SECRET

__all__ = ["linked"]  # the fixture, used by name

CANARY = "Canary-7Q9 water the ficus"


async def stored_text(container) -> str:
    """Every row of every table, as text: what the database holds, on either backend."""
    parts: list[str] = []
    async with container.database.transaction(write=False) as uow:
        for table in metadata.sorted_tables:
            for row in (await uow.connection.execute(select(table))).all():
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


async def test_a_connected_persons_task_becomes_a_tip_whose_title_is_kept_nowhere(linked, todoist, capsys):
    container, client = linked
    await a_day(client)
    task = add_task(todoist, CANARY, due_string="today", priority=4, duration_minutes=10)
    await connect(container, client, todoist)

    body = await tip_about(client, f"todoist:{task['id']}")
    assert CANARY in body["tip"]["text"]  # rendered for the person, on its way out
    state = await feature_state(client)
    fact = state.tasks[f"todoist:{task['id']}"]
    assert (fact.title, fact.provider, fact.priority, fact.estimated_minutes) == (None, "todoist", 4, 10)
    reaction = {"decision_id": body["decision_id"], "reaction": "done"}
    assert (await client.post("/v1/feedback", json=reaction)).status_code == 200
    await container.jobs.idle()

    export = (await client.get("/v1/me/export")).text
    assert task["id"] in export  # the id is kept, the words are not
    assert CANARY not in export
    assert CANARY not in await stored_text(container)
    if container.database.dialect == "sqlite":
        await container.database.checkpoint()
        for path in container.settings.core.data_dir.glob("oo.sqlite3*"):
            assert CANARY.encode() not in path.read_bytes(), path.name
    assert CANARY not in capsys.readouterr().out
    # Read-only by default: Done in oO closes the tip, and nothing is written to Todoist.
    assert calls(todoist, "POST", "/close") == []


async def test_done_completes_the_task_in_todoist_once_the_person_allowed_it(linked, todoist):
    container, client = linked
    await a_day(client)
    task = add_task(todoist, "Pay the rent", due_string="today", priority=4, duration_minutes=5)
    await connect(container, client, todoist, complete_tasks=True)
    status = await todoist_status(client)
    assert (status["status"], status["completes_tasks"], status["scopes"]) == ("connected", True, ["data:read_write"])

    body = await tip_about(client, f"todoist:{task['id']}")
    reaction = {"decision_id": body["decision_id"], "reaction": "done"}
    assert (await client.post("/v1/feedback", json=reaction)).status_code == 200
    await container.jobs.idle()

    assert [c["status"] for c in calls(todoist, "POST", f"/tasks/{task['id']}/close")] == [204]
    refreshed = (await client.post("/v1/me/integrations/todoist/refresh")).json()
    assert refreshed["outcome"] == "refreshed"
    assert f"todoist:{task['id']}" not in (await feature_state(client)).tasks


async def test_a_completion_todoist_cannot_take_now_is_tried_again_until_it_closes_the_task(linked, todoist):
    container, client = linked
    await a_day(client)
    task = add_task(todoist, "Pay the rent", due_string="today", priority=4, duration_minutes=5)
    await connect(container, client, todoist, complete_tasks=True)
    body = await tip_about(client, f"todoist:{task['id']}")
    # Every try the job's first attempt makes (the SDK call is tried three times) meets a 503.
    todoist.control("POST", "/_sim/faults", {"status": 503, "count": 3})

    reaction = {"decision_id": body["decision_id"], "reaction": "done"}
    assert (await client.post("/v1/feedback", json=reaction)).status_code == 200
    await container.jobs.idle()

    assert [c["status"] for c in calls(todoist, "POST", f"/tasks/{task['id']}/close")] == [503, 503, 503, 204]


async def test_a_refresh_publishes_only_what_changed_and_a_task_deleted_in_todoist_never_returns(linked, todoist):
    container, client = linked
    await a_day(client)
    kept = add_task(todoist, "Book the dentist", due_string="tomorrow", priority=2)
    changed = add_task(todoist, "Renew the passport", due_string="in 5 days", priority=1)
    deleted = add_task(todoist, "Call the bank", due_string="today", priority=4, duration_minutes=10)
    await connect(container, client, todoist)
    body = await tip_about(client, f"todoist:{deleted['id']}")

    todoist.control("PATCH", f"/_sim/users/demo/tasks/{changed['id']}", {"priority": 4})
    todoist.control("DELETE", f"/_sim/users/demo/tasks/{deleted['id']}")
    assert (await client.post("/v1/me/integrations/todoist/refresh")).json()["outcome"] == "refreshed"
    assert (await client.post("/v1/me/integrations/todoist/refresh")).json()["outcome"] == "refreshed"

    events = (await client.get("/v1/me/export")).json()["events"]["events"]
    synced = [e["payload"]["task_id"] for e in events if e["type"] == "integrations.task_synced.v1"]
    removed = [e["payload"]["task_id"] for e in events if e["type"] == "integrations.task_removed.v1"]
    assert sorted(synced) == sorted(
        [f"todoist:{kept['id']}", f"todoist:{changed['id']}", f"todoist:{deleted['id']}", f"todoist:{changed['id']}"]
    )
    assert removed == [f"todoist:{deleted['id']}"]
    state = await feature_state(client)
    assert set(state.tasks) == {f"todoist:{kept['id']}", f"todoist:{changed['id']}"}
    assert state.tasks[f"todoist:{changed['id']}"].priority == 4
    # The tip about the deleted task is no longer the answer, and the task never comes back.
    for _ in range(15):
        answer = (await client.post("/v1/recommend", json={})).json()
        assert answer["decision_id"] != body["decision_id"]
        assert answer["tip"] is None or answer["tip"]["id"] != f"task:todoist:{deleted['id']}"
        if answer["tip"] is not None:
            later = {"decision_id": answer["decision_id"], "reaction": "later"}
            await client.post("/v1/feedback", json=later)


async def test_the_flow_says_a_denial_a_bad_code_and_a_replayed_state_in_words(linked, todoist):
    container, client = linked
    url = await begin(client)
    denied = consent_at_todoist(todoist, url, decision="deny")
    assert denied["error"] == "access_denied"
    assert await back_at_oo(client, denied) == "access_denied"
    assert await back_at_oo(client, denied) == "state_unknown"  # a state serves one callback

    url = await begin(client)
    query = consent_at_todoist(todoist, url)
    assert await back_at_oo(client, {**query, "code": "not-a-code"}) == "bad_code"
    assert await back_at_oo(client, query) == "state_unknown"  # the first callback took it
    assert await back_at_oo(client, {"state": "forged", "code": query["code"]}) == "state_unknown"

    container.integrations.todoist_settings.client_secret = type(container.integrations.todoist_settings.client_secret)(
        "not-the-secret"
    )
    url = await begin(client)
    assert await back_at_oo(client, consent_at_todoist(todoist, url)) == "app_credentials"
    status = await todoist_status(client)
    assert status["status"] == "not_connected"


async def test_a_webhook_is_a_verified_hint_taken_once(linked, todoist, webhook_sink):
    container, client = linked
    await connect(container, client, todoist)
    todoist.control("POST", "/_sim/webhook", {"url": webhook_sink.url})
    new = add_task(todoist, "Water the plants", due_string="today")
    [(headers, raw)] = webhook_sink.wait_for(1)
    assert json.loads(raw)["event_name"] == "item:added"
    signed = {name: headers[name] for name in ("x-todoist-hmac-sha256", "x-todoist-delivery-id")}

    forged = raw.replace(b"Water the plants", b"Wire the money!!")
    answer = await client.post("/v1/integrations/todoist/webhook", content=forged, headers=signed)
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "bad_signature")
    await container.jobs.idle()
    assert f"todoist:{new['id']}" not in (await feature_state(client)).tasks

    pages = len(calls(todoist, "GET", "/tasks/filter"))
    assert (await client.post("/v1/integrations/todoist/webhook", content=raw, headers=signed)).status_code == 200
    await container.jobs.idle()
    assert f"todoist:{new['id']}" in (await feature_state(client)).tasks
    # The hint names one task: that task alone is read again, not every page.
    assert len(calls(todoist, "GET", f"/api/v1/tasks/{new['id']}")) == 1
    assert len(calls(todoist, "GET", "/tasks/filter")) == pages

    replayed = await client.post("/v1/integrations/todoist/webhook", content=raw, headers=signed)
    assert replayed.status_code == 200
    await container.jobs.idle()
    assert len(calls(todoist, "GET", f"/api/v1/tasks/{new['id']}")) == 1  # a replay reads nothing


async def test_a_hint_about_one_task_follows_it_in_and_out_of_the_filters_window(linked, todoist, webhook_sink):
    container, client = linked
    await connect(container, client, todoist)
    todoist.control("POST", "/_sim/webhook", {"url": webhook_sink.url})

    async def deliver(count: int) -> None:
        headers, raw = webhook_sink.wait_for(count)[-1]
        signed = {name: headers[name] for name in ("x-todoist-hmac-sha256", "x-todoist-delivery-id")}
        assert (await client.post("/v1/integrations/todoist/webhook", content=raw, headers=signed)).status_code == 200
        await container.jobs.idle()

    later = add_task(todoist, "Plan next summer", due_string="in 5 weeks")
    await deliver(1)
    assert f"todoist:{later['id']}" not in (await feature_state(client)).tasks  # outside the two weeks
    todoist.control("PATCH", f"/_sim/users/demo/tasks/{later['id']}", {"due_string": "tomorrow"})
    await deliver(2)
    assert (await feature_state(client)).tasks[f"todoist:{later['id']}"].due_date is not None
    todoist.control("POST", f"/_sim/users/demo/tasks/{later['id']}/complete")
    await deliver(3)
    assert f"todoist:{later['id']}" not in (await feature_state(client)).tasks
    assert len(calls(todoist, "GET", "/tasks/filter")) == 1  # the connect's read alone


@pytest.mark.todoist_settings(filter="#Work")
async def test_with_a_filter_of_its_own_every_hint_reads_all_its_pages(linked, todoist, webhook_sink):
    container, client = linked
    await connect(container, client, todoist)
    todoist.control("POST", "/_sim/webhook", {"url": webhook_sink.url})
    add_task(todoist, "Any task")
    [(headers, raw)] = webhook_sink.wait_for(1)
    signed = {name: headers[name] for name in ("x-todoist-hmac-sha256", "x-todoist-delivery-id")}
    assert (await client.post("/v1/integrations/todoist/webhook", content=raw, headers=signed)).status_code == 200
    await container.jobs.idle()
    reads = [parse_qs(c["query"])["query"] for c in calls(todoist, "GET", "/tasks/filter")]
    assert reads == [["#Work"], ["#Work"]]  # the connect's read, then the hint's


async def test_a_failing_todoist_keeps_what_was_read_stale_and_a_revoked_grant_is_broken(linked, todoist):
    container, client = linked
    task = add_task(todoist, "File the taxes", due_string="tomorrow", priority=3)
    await connect(container, client, todoist)

    todoist.control("POST", "/_sim/faults", {"status": 503, "count": 3})
    failed = (await client.post("/v1/me/integrations/todoist/refresh")).json()
    assert failed["outcome"] == "failed"
    assert (failed["integration"]["stale"], failed["integration"]["sync_error"]) == (True, "provider_error")
    assert f"todoist:{task['id']}" in (await feature_state(client)).tasks  # the last known tasks stay

    todoist.control("POST", "/_sim/faults", {"status": 429, "count": 3, "retry_after": 1})
    limited = (await client.post("/v1/me/integrations/todoist/refresh")).json()
    assert (limited["outcome"], limited["integration"]["sync_error"]) == ("failed", "rate_limited")

    recovered = (await client.post("/v1/me/integrations/todoist/refresh")).json()
    assert (recovered["outcome"], recovered["integration"]["stale"]) == ("refreshed", False)

    await todoist_revokes_the_grant(container, todoist)
    refused = (await client.post("/v1/me/integrations/todoist/refresh")).json()
    assert (refused["integration"]["status"], refused["integration"]["sync_error"]) == ("broken", "unauthorized")
    again = await client.post("/v1/me/integrations/todoist/refresh")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "not_connected")


async def todoist_revokes_the_grant(container, todoist) -> None:
    """The person removes oO's app in Todoist's settings: its token stops working."""
    async with container.database.transaction(write=False) as uow:
        tokens = await container.integrations.connections.tokens(uow, await local_user(container), "todoist")
    answer = todoist.http.post(
        f"{todoist.base_url}/api/v1/revoke", data={"token": tokens.access_token}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert answer.status_code == 200


async def test_disconnecting_forgets_the_tasks_and_revokes_the_grant(linked, todoist):
    container, client = linked
    task = add_task(todoist, "Sort the photos")
    await connect(container, client, todoist)
    assert f"todoist:{task['id']}" in (await feature_state(client)).tasks

    assert (await client.delete("/v1/me/integrations/todoist")).status_code == 204
    await container.jobs.idle()
    assert [c["status"] for c in calls(todoist, "POST", "/api/v1/revoke")] == [200]
    state = await feature_state(client)
    assert not any(task_id.startswith("todoist:") for task_id in state.tasks)
    exported = (await client.get("/v1/me/export")).json()
    export = exported["integrations"]
    assert (export["connections"], export["tasks"]) == ([], [])
    # Nor does the event store keep what was read: the forgetting stays, as the record of it.
    kept = [e["type"] for e in exported["events"]["events"] if e["type"].startswith("integrations.")]
    assert kept == ["integrations.provider_forgotten.v1"]
    second = await client.delete("/v1/me/integrations/todoist")
    assert (second.status_code, second.json()["error"]["code"]) == (404, "not_connected")


async def test_withdrawing_the_consent_forgets_todoist_at_once(linked, todoist):
    container, client = linked
    task = add_task(todoist, "Plan the trip")
    await connect(container, client, todoist)
    await grant(client, False)
    await container.jobs.idle()

    assert f"todoist:{task['id']}" not in (await feature_state(client)).tasks
    status = await todoist_status(client)
    assert (status["status"], status["consent_granted"]) == ("not_connected", False)
    assert [c["status"] for c in calls(todoist, "POST", "/api/v1/revoke")] == [200]
    refused = await client.post("/v1/me/integrations/todoist/authorization", json={})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "consent_required")


async def test_a_title_not_in_memory_is_asked_of_todoist_and_else_named_in_words(linked, todoist):
    container, client = linked
    await a_day(client)
    task = add_task(todoist, "Mend the bike", due_string="today", priority=4, duration_minutes=15)
    await connect(container, client, todoist)
    body = await tip_about(client, f"todoist:{task['id']}")

    container.integrations.title_cache.forget(await local_user(container))  # as after a restart
    held = (await client.post("/v1/recommend", json={})).json()
    assert held["decision_id"] == body["decision_id"]
    assert "Mend the bike" in held["tip"]["text"]
    assert len(calls(todoist, "GET", f"/tasks/{task['id']}")) == 1

    container.integrations.title_cache.forget(await local_user(container))
    todoist.control("POST", "/_sim/faults", {"status": 500, "count": 1})
    unavailable = (await client.post("/v1/recommend", json={})).json()
    assert "Mend the bike" not in unavailable["tip"]["text"]
    assert "a task in Todoist" in unavailable["tip"]["text"]


async def local_user(container) -> str:
    async with container.database.transaction(write=False) as uow:
        principal = await container.auth.identity.existing_local_principal(uow)
    assert principal is not None
    return str(principal.user_id)


async def test_an_expiring_grant_is_refreshed_once_and_the_rotated_pair_stored(linked, todoist):
    container, client = linked
    add_task(todoist, "Clean the gutters")
    await connect(container, client, todoist)
    user_id = await local_user(container)
    connections = container.integrations.connections
    async with container.database.transaction() as uow:
        before = await connections.tokens(uow, user_id, "todoist")
        await uow.connection.execute(
            update(integrations_connections)
            .where(integrations_connections.c.user_id == user_id)
            .values(token_expires_at=datetime.now(UTC) - timedelta(seconds=5))
        )
    assert before.refresh_token is not None

    outcomes = await asyncio.gather(*(container.integrations.todoist.refresh(user_id) for _ in range(3)))

    assert outcomes == ["refreshed"] * 3
    assert len(calls(todoist, "POST", "/oauth/access_token")) == 2  # the code's exchange, then one refresh
    async with container.database.transaction(write=False) as uow:
        after = await connections.tokens(uow, user_id, "todoist")
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token
    assert after.expires_at > datetime.now(UTC)
    reused = todoist.http.post(
        f"{todoist.base_url}/oauth/access_token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": before.refresh_token,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert reused.status_code == 400  # rotated: the old refresh token is spent


async def test_deleting_the_account_revokes_the_todoist_grant(linked, todoist):
    container, client = linked
    await connect(container, client, todoist)
    deletion = await client.delete("/v1/me")
    assert deletion.status_code == 202
    await container.jobs.idle()
    assert [c["status"] for c in calls(todoist, "POST", "/api/v1/revoke")] == [200]


async def stored_access_token(container) -> str:
    async with container.database.transaction(write=False) as uow:
        tokens = await container.integrations.connections.tokens(uow, await local_user(container), "todoist")
    return str(tokens.access_token)


def todoist_answers(todoist, access_token: str) -> int:
    answer = todoist.http.get(f"{todoist.base_url}/api/v1/user", headers={"Authorization": f"Bearer {access_token}"})
    return int(answer.status_code)


async def test_a_grant_replaced_is_revoked_so_deletion_leaves_none_alive(linked, todoist):
    container, client = linked
    await connect(container, client, todoist)
    reading = await stored_access_token(container)
    await connect(container, client, todoist, complete_tasks=True)  # Todoist asks again: a second grant
    await container.jobs.idle()
    writing = await stored_access_token(container)
    assert writing != reading
    assert (todoist_answers(todoist, reading), todoist_answers(todoist, writing)) == (401, 200)

    assert (await client.delete("/v1/me")).status_code == 202
    await container.jobs.idle()
    assert [c["status"] for c in calls(todoist, "POST", "/api/v1/revoke")] == [200, 200]
    assert (todoist_answers(todoist, reading), todoist_answers(todoist, writing)) == (401, 401)


@pytest.mark.todoist_settings(timeout_seconds=0.3)
async def test_a_todoist_that_does_not_answer_in_time_is_a_timeout_and_the_tasks_stay(linked, todoist):
    container, client = linked
    task = add_task(todoist, "Return the library books")
    await connect(container, client, todoist)
    todoist.control("POST", "/_sim/faults", {"delay_seconds": 1.0, "count": 6})
    slow = (await client.post("/v1/me/integrations/todoist/refresh")).json()
    assert (slow["outcome"], slow["integration"]["sync_error"]) == ("failed", "timeout")
    assert f"todoist:{task['id']}" in (await feature_state(client)).tasks


async def todoist_status(client) -> dict:
    listed = (await client.get("/v1/me/integrations")).json()["integrations"]
    [status] = [item for item in listed if item["provider"] == "todoist"]
    return dict(status)


async def test_a_flow_begun_by_one_person_connects_nobody_when_another_comes_back_with_it(linked, todoist):
    container, client = linked
    _, token_a = await new_user_with_token(container)
    _, token_b = await new_user_with_token(container)
    for token in (token_a, token_b):
        update = {"consents": [{"purpose": "integration:todoist", "granted": True, "version": 1}]}
        assert (await client.put("/v1/me/consents", json=update, headers=bearer(token))).status_code == 200
    begun = await client.post("/v1/me/integrations/todoist/authorization", json={}, headers=bearer(token_a))
    query = consent_at_todoist(todoist, begun.json()["authorize_url"])

    async def back(token: str) -> str:
        answer = await client.get("/v1/integrations/todoist/callback", params=query, headers=bearer(token))
        return str(parse_qs(urlsplit(answer.headers["location"]).query)["result"][0])

    assert await back(token_b) == "wrong_person"
    assert await back(token_a) == "state_unknown"  # spent: a state serves one callback, whoever brings it
    for token in (token_a, token_b):
        status = {
            i["provider"]: i
            for i in (await client.get("/v1/me/integrations", headers=bearer(token))).json()["integrations"]
        }["todoist"]
        assert status["status"] == "not_connected"
