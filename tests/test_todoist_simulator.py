"""The Todoist simulator, driven by the real `todoist-api-python` SDK over HTTP on loopback: every answer
it gives must parse with the SDK's models as Todoist's would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from todoist_api_python.authentication import get_auth_token_async, get_authentication_url, revoke_auth_token_async
from todoist_api_python.models import Task

from tests.todoist_sim import (
    CLIENT_ID,
    CLIENT_SECRET,
    LEGACY_CLIENT_ID,
    LEGACY_CLIENT_SECRET,
    REDIRECT_URI,
    TodoistSim,
    WebhookSink,
)

# A Tuesday morning in Berlin.
NOW = "2026-03-10T09:00:00+01:00"


async def _all(pages) -> list[Any]:
    return [task async for page in pages for task in page]


async def _filter(todoist: TodoistSim, token: str, query: str) -> list[str]:
    async with todoist.sdk(token) as api:
        return sorted(t.content for t in await _all(await api.filter_tasks(query=query)))


def _seed(todoist: TodoistSim, user: str = "demo", **fields: object) -> dict[str, Any]:
    return dict(todoist.control("POST", f"/_sim/users/{user}/tasks", fields))


def _redirect(todoist: TodoistSim, url: str) -> dict[str, list[str]]:
    response = todoist.http.get(url.replace("https://todoist.com", todoist.base_url))
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI)
    return parse_qs(urlsplit(location).query)


async def test_oauth_code_becomes_a_token_that_reads_and_writes_tasks(todoist: TodoistSim) -> None:
    todoist.control("POST", "/_sim/authorize", {"user": "ada", "decision": "allow"})
    query = _redirect(todoist, get_authentication_url(CLIENT_ID, ["data:read_write"], "s-1"))
    assert query["state"] == ["s-1"]

    async with httpx.AsyncClient(transport=todoist.transport()) as client:
        auth = await get_auth_token_async(CLIENT_ID, CLIENT_SECRET, query["code"][0], client=client)
        with pytest.raises(httpx.HTTPStatusError) as reused:
            await get_auth_token_async(CLIENT_ID, CLIENT_SECRET, query["code"][0], client=client)
    assert reused.value.response.status_code == 400
    assert reused.value.response.json()["error"] == "bad_authorization_code"

    async with todoist.sdk(auth.access_token) as api:
        added = await api.add_task(
            "Write the report",
            priority=4,
            labels=["deep"],
            due_string="tomorrow at 14:30",
            duration=30,
            duration_unit="minute",
            deadline_date=date(2026, 4, 1),
            description="two pages",
        )
        assert await api.get_task(added.id) == added
        assert [t.id for t in await _all(await api.get_tasks())] == [added.id]
        updated = await api.update_task(added.id, content="Write the short report", due_date=date(2026, 3, 20))
        assert (updated.content, updated.due and updated.due.date) == ("Write the short report", date(2026, 3, 20))
        projects = [p.name for p in await _all(await api.get_projects())]
    assert added.duration is not None
    assert (added.duration.amount, added.duration.unit) == (30, "minute")
    assert added.due is not None
    assert isinstance(added.due.date, datetime)
    assert added.due.date.hour == 14
    assert projects == ["Inbox"]
    user = todoist.http.get(f"{todoist.base_url}/api/v1/user", headers={"Authorization": f"Bearer {auth.access_token}"})
    assert user.json()["id"] == "ada"


def test_refresh_tokens_rotate_and_a_used_one_is_refused(todoist: TodoistSim) -> None:
    code = todoist.authorize(scope="data:read")
    url = f"{todoist.base_url}/oauth/access_token"
    first = todoist.http.post(url, data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code}).json()
    assert set(first) == {"access_token", "token_type", "refresh_token", "expires_in", "scope", "state"}
    assert first["scope"] == "data:read"

    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "refresh_token"}
    second = todoist.http.post(url, data=form | {"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    reused = todoist.http.post(url, data=form | {"refresh_token": first["refresh_token"]})
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    wrong = todoist.http.post(url, data=form | {"client_secret": "nope", "refresh_token": "x"})
    assert (wrong.status_code, wrong.json()["error"]) == (400, "incorrect_application_credentials")

    todoist.control("POST", "/_sim/clock", {"advance_seconds": second.json()["expires_in"] + 1})
    expired = todoist.http.get(
        f"{todoist.base_url}/api/v1/tasks", headers={"Authorization": f"Bearer {second.json()['access_token']}"}
    )
    assert (expired.status_code, expired.json()["error_tag"]) == (401, "AUTH_INVALID_TOKEN")


def test_the_consent_page_answers_denials_bad_scopes_unknown_apps_and_stale_codes(todoist: TodoistSim) -> None:
    todoist.control("POST", "/_sim/authorize", {"user": "ada", "decision": "deny"})
    assert _redirect(todoist, get_authentication_url(CLIENT_ID, ["data:read"], "s"))["error"] == ["access_denied"]
    bad_scope = f"{todoist.base_url}/oauth/authorize?client_id={CLIENT_ID}&scope=data:everything&state=s"
    assert _redirect(todoist, bad_scope)["error"] == ["invalid_scope"]
    unknown = todoist.http.get(f"{todoist.base_url}/oauth/authorize?client_id=nobody&scope=data:read&state=s")
    assert unknown.status_code == 400

    code = todoist.authorize()
    todoist.control("POST", "/_sim/clock", {"advance_seconds": 601})
    stale = todoist.http.post(
        f"{todoist.base_url}/oauth/access_token",
        data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code},
    )
    assert (stale.status_code, stale.json()["error"]) == (400, "bad_authorization_code")


async def test_filters_evaluate_in_the_persons_time_zone(todoist: TodoistSim) -> None:
    todoist.control("POST", "/_sim/clock", {"now": NOW})
    todoist.control("POST", "/_sim/users", {"user_id": "demo", "timezone": "Europe/Berlin"})
    token = todoist.token()
    _seed(todoist, content="today urgent", due_string="today", priority=4, project="Work", labels=["deep"])
    _seed(todoist, content="today plain", due_string="today")
    _seed(todoist, content="late", due_string="yesterday", priority=3)
    _seed(todoist, content="earlier today", due_datetime="2026-03-10T07:00:00Z")  # 08:00 in Berlin
    _seed(todoist, content="undated", project="Work", priority=4)
    _seed(todoist, content="daily", due_string="every day", labels=["habit"])
    _seed(todoist, content="in two days", due_date="2026-03-12")
    _seed(todoist, content="next week", due_string="in 7 days")

    assert await _filter(todoist, token, "today") == ["daily", "earlier today", "today plain", "today urgent"]
    assert await _filter(todoist, token, "overdue") == ["earlier today", "late"]
    assert await _filter(todoist, token, "no date") == ["undated"]
    assert await _filter(todoist, token, "p1") == ["today urgent", "undated"]
    assert await _filter(todoist, token, "(today | overdue) & !p4") == ["late", "today urgent"]
    assert await _filter(todoist, token, "#work & @DEEP") == ["today urgent"]
    assert await _filter(todoist, token, "3 days & !today") == ["in two days"]
    assert await _filter(todoist, token, "recurring | next 8 days & @nothing") == ["daily"]
    assert await _filter(todoist, token, "tomorrow") == []

    for query in ("someday soon", "today &", "(today", "today, overdue"):
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await _filter(todoist, token, query)
        body = refused.value.response.json()
        assert refused.value.response.status_code == 400
        assert (body["http_code"], body["error_tag"]) == (400, "INVALID_SEARCH_QUERY")


async def test_lists_page_with_an_opaque_cursor(todoist: TodoistSim) -> None:
    token = todoist.token()
    for n in range(7):
        _seed(todoist, content=f"task {n}")
    async with todoist.sdk(token) as api:
        pages = [[t.content for t in page] async for page in await api.get_tasks(limit=3)]
    assert pages == [["task 0", "task 1", "task 2"], ["task 3", "task 4", "task 5"], ["task 6"]]
    headers = {"Authorization": f"Bearer {token}"}
    too_many = todoist.http.get(f"{todoist.base_url}/api/v1/tasks?limit=201", headers=headers)
    assert too_many.status_code == 400


async def test_closing_a_recurring_task_moves_its_date_and_a_plain_one_completes(todoist: TodoistSim) -> None:
    todoist.control("POST", "/_sim/clock", {"now": NOW})
    token = todoist.token()
    daily = _seed(todoist, content="stretch", due_string="every day")
    weekly = _seed(todoist, content="review", due_string="every week")
    plain = _seed(todoist, content="call", due_string="today")
    async with todoist.sdk(token) as api:
        for task in (daily, weekly, plain):
            assert await api.complete_task(task["id"]) is True
        moved_daily, moved_weekly = await api.get_task(daily["id"]), await api.get_task(weekly["id"])
        done = await api.get_task(plain["id"])
        open_ids = {t.id for t in await _all(await api.get_tasks())}
        held = {t["id"]: t["checked"] for t in todoist.control("GET", "/_sim/users/demo/tasks")}
        assert held == {daily["id"]: False, weekly["id"]: False, plain["id"]: True}  # completed ones too
        assert await api.uncomplete_task(plain["id"]) is True
        assert plain["id"] in {t.id for t in await _all(await api.get_tasks())}
        assert await api.delete_task(plain["id"]) is True
        with pytest.raises(httpx.HTTPStatusError) as gone:
            await api.get_task(plain["id"])
    assert moved_daily.due is not None
    assert moved_daily.due.date == date(2026, 3, 11)
    assert moved_weekly.due is not None
    assert moved_weekly.due.date == date(2026, 3, 17)
    assert not moved_daily.is_completed
    assert done.is_completed
    assert open_ids == {daily["id"], weekly["id"]}
    assert gone.value.response.status_code == 404
    closes = [c for c in todoist.control("GET", "/_sim/calls") if c["path"].endswith("/close")]
    assert [c["status"] for c in closes] == [204, 204, 204]


async def test_a_revoked_token_is_refused_everywhere(todoist: TodoistSim) -> None:
    legacy, rfc7009 = todoist.token(), todoist.token()
    async with httpx.AsyncClient(transport=todoist.transport()) as client:
        assert await revoke_auth_token_async(LEGACY_CLIENT_ID, LEGACY_CLIENT_SECRET, legacy, client=client)
    basic = base64.b64encode(f"{LEGACY_CLIENT_ID}:{LEGACY_CLIENT_SECRET}".encode()).decode()
    revoked = todoist.http.post(
        f"{todoist.base_url}/api/v1/revoke",
        headers={"Authorization": f"Basic {basic}"},
        data={"token": rfc7009, "token_type_hint": "access_token"},
    )
    assert revoked.status_code == 200
    for token in (legacy, rfc7009):
        async with todoist.sdk(token) as api:
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await _all(await api.get_tasks())
        assert refused.value.response.status_code == 401


async def test_a_token_without_the_scope_gets_403_and_another_persons_task_404(todoist: TodoistSim) -> None:
    reader = todoist.token(scope="data:read")
    theirs = _seed(todoist, user="someone-else", content="private")
    async with todoist.sdk(reader) as api:
        with pytest.raises(httpx.HTTPStatusError) as forbidden:
            await api.add_task("nope")
        with pytest.raises(httpx.HTTPStatusError) as hidden:
            await api.get_task(theirs["id"])
    assert forbidden.value.response.json()["error_tag"] == "AUTH_INSUFFICIENT_TOKEN_SCOPE"
    assert (forbidden.value.response.status_code, hidden.value.response.status_code) == (403, 404)
    adder = todoist.token(scope="task:add")
    async with todoist.sdk(adder) as api:
        assert (await api.add_task("allowed")).content == "allowed"


def test_limits_and_faults(todoist: TodoistSim) -> None:
    headers = {"Authorization": f"Bearer {todoist.token()}"}
    tasks = f"{todoist.base_url}/api/v1/tasks"
    todoist.control("POST", "/_sim/rate_limit", {"requests": 2, "window_seconds": 60})
    statuses = [todoist.http.get(tasks, headers=headers).status_code for _ in range(3)]
    limited = todoist.http.get(tasks, headers=headers)
    assert statuses == [200, 200, 429]
    assert limited.headers["retry-after"] == str(limited.json()["error_extra"]["retry_after"])
    assert 0 < limited.json()["error_extra"]["retry_after"] <= 60
    todoist.control("POST", "/_sim/clock", {"advance_seconds": 61})
    assert todoist.http.get(tasks, headers=headers).status_code == 200

    todoist.control("POST", "/_sim/faults", {"status": 503, "count": 2})
    assert [todoist.http.get(tasks, headers=headers).status_code for _ in range(3)] == [503, 503, 200]
    todoist.control("POST", "/_sim/faults", {"status": 429, "count": 1, "retry_after": 7})
    assert todoist.http.get(tasks, headers=headers).headers["retry-after"] == "7"
    todoist.control("POST", "/_sim/faults", {"delay_seconds": 1.0, "count": 1})
    with pytest.raises(httpx.ReadTimeout):
        todoist.http.get(tasks, headers=headers, timeout=0.2)

    too_big = todoist.http.post(tasks, headers=headers, content=b"x" * (1024 * 1024 + 1))
    assert too_big.status_code == 413


def test_the_call_log_says_what_oo_asked(todoist: TodoistSim) -> None:
    headers = {"Authorization": f"Bearer {todoist.token()}"}
    todoist.http.get(f"{todoist.base_url}/api/v1/tasks/filter?query=today", headers=headers)
    calls = todoist.control("GET", "/_sim/calls")
    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("POST", "/oauth/access_token", 200),
        ("GET", "/api/v1/tasks/filter", 200),
    ]
    assert calls[1]["query"] == "query=today"


async def test_webhooks_are_signed_retried_and_replayed_with_one_delivery_id(
    todoist: TodoistSim, webhook_sink: WebhookSink
) -> None:
    todoist.control("POST", "/_sim/webhook", {"url": webhook_sink.url})
    _seed(todoist, user="ada", content="before consent")  # no grant yet: no webhook
    code = todoist.authorize(user="ada")
    todoist.http.post(
        f"{todoist.base_url}/oauth/access_token",
        data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code},
    ).raise_for_status()
    webhook_sink.statuses.extend([500])  # the first attempt fails, the retry succeeds

    task = _seed(todoist, user="ada", content="Book the dentist", due_string="today")
    first, retry = webhook_sink.wait_for(2)
    assert first == retry
    headers, body = first
    expected = base64.b64encode(hmac.new(CLIENT_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(headers["x-todoist-hmac-sha256"], expected)
    assert headers["user-agent"] == "Todoist-Webhooks"
    payload = json.loads(body)
    assert (payload["event_name"], payload["user_id"], payload["version"]) == ("item:added", "ada", "10")
    assert Task.from_dict(payload["event_data"]).id == task["id"]

    [delivery] = todoist.control("GET", "/_sim/deliveries?settle_seconds=5")
    assert [a["status"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["delivery_id"] == headers["x-todoist-delivery-id"]
    todoist.control("POST", f"/_sim/deliveries/{delivery['delivery_id']}/replay")
    replayed = webhook_sink.wait_for(3)[2]
    assert replayed[1] == body
    assert replayed[0]["x-todoist-delivery-id"] == delivery["delivery_id"]

    todoist.control("POST", f"/_sim/users/ada/tasks/{task['id']}/complete")
    completed = json.loads(webhook_sink.wait_for(4)[3][1])
    assert completed["event_name"] == "item:completed"
    assert completed["event_data"]["completed_at"] is not None


def test_the_cli_serves_the_simulator_and_prints_what_oo_needs(monkeypatch, capsys) -> None:
    from oo_simulators import cli

    served: list[tuple[str, int]] = []
    monkeypatch.setattr("oo_simulators.cli.uvicorn.run", lambda app, host, port, log_level: served.append((host, port)))
    cli.main(["todoist", "--port", "9999", "--client-id", "demo-app", "--webhook-url", "http://127.0.0.1:8000/wh"])
    out = capsys.readouterr().out
    assert "OO_TODOIST_API_URL=http://127.0.0.1:9999" in out
    assert "OO_TODOIST_OAUTH_URL=http://127.0.0.1:9999/oauth" in out
    assert "OO_TODOIST_CLIENT_ID=demo-app" in out
    assert served == [("127.0.0.1", 9999)]
