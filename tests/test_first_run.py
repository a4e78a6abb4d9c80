"""The page's APIs around the tip: first-run steps, quiet hours, settings, and "that's wrong"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.conftest import bearer, new_user_with_token
from tests.test_recommender import decision_row, person_with_a_day, policy_row, recommend_until_tip, signal


async def post_events(client, token: str, *events: dict) -> None:
    response = await client.post("/v1/events", json={"events": list(events)}, headers=bearer(token))
    assert response.status_code == 200, response.text


async def test_a_new_person_is_onboarded_by_tips_that_teach_no_policy(client, container):
    user_id, token = await new_user_with_token(container)
    first = (await client.post("/v1/recommend", json={}, headers=bearer(token))).json()
    assert first["tip"]["id"] == "onboarding:checkin"
    assert first["tip"]["prompt"] == "checkin"
    assert (await decision_row(container, first["decision_id"])).propensity == 1.0

    await post_events(client, token, signal("profile.checkin_recorded.v1", {"energy": 3, "mood": 4}))
    reacted = await client.post(
        "/v1/feedback", json={"decision_id": first["decision_id"], "reaction": "done"}, headers=bearer(token)
    )
    assert reacted.json()["learned"] is False
    assert await policy_row(container, user_id) is None

    second = (await client.post("/v1/recommend", json={}, headers=bearer(token))).json()
    assert (second["tip"]["id"], second["tip"]["prompt"]) == ("onboarding:tasks", "tasks")

    # Not now: the page records the answer, then reacts; the step is not offered again.
    await post_events(client, token, signal("profile.first_run_answered.v1", {"step": "tasks", "answer": "not_now"}))
    reacted = await client.post(
        "/v1/feedback", json={"decision_id": second["decision_id"], "reaction": "dismiss"}, headers=bearer(token)
    )
    assert reacted.status_code == 200, reacted.text
    third = (await client.post("/v1/recommend", json={}, headers=bearer(token))).json()
    assert (third["tip"]["id"], third["tip"]["prompt"]) == ("onboarding:habit", "habit")


async def test_quiet_hours_silence_every_ask_until_they_end(client, container):
    _, token = await new_user_with_token(container)
    zone = await person_with_a_day(client, token)
    hour = datetime.now(ZoneInfo(zone)).hour
    await post_events(
        client, token, signal("profile.quiet_hours_set.v1", {"start_hour": hour, "end_hour": (hour + 2) % 24})
    )
    body = (await client.post("/v1/recommend", json={}, headers=bearer(token))).json()
    assert body["tip"] is None
    assert 0 < body["retry_after"] <= 7200  # until the end of the two quiet hours
    row = await decision_row(container, body["decision_id"])
    assert (row.policy_version, row.chosen) == ("quiet-hours-v1", None)
    assert (await client.get("/v1/me/export", headers=bearer(token))).status_code == 200

    await post_events(client, token, signal("profile.quiet_hours_set.v1", {"start_hour": 0, "end_hour": 0}))
    assert (await recommend_until_tip(client, token))["tip"] is not None


async def test_settings_show_what_the_events_set(client, container):
    _, token = await new_user_with_token(container)
    walk = {"habit_id": "walk", "name": "a walk", "window_start_hour": 11, "window_end_hour": 14}
    await post_events(
        client,
        token,
        signal("recommender.context_observed.v1", {"timezone": "Asia/Tokyo", "device_class": "desktop"}),
        signal("profile.quiet_hours_set.v1", {"start_hour": 22, "end_hour": 7}),
        signal("profile.habit_defined.v1", walk),
        signal("profile.habit_defined.v1", {**walk, "habit_id": "read", "name": "read a page"}),
        signal("profile.habit_removed.v1", {"habit_id": "read"}),
    )
    settings = (await client.get("/v1/me/settings", headers=bearer(token))).json()
    assert settings["timezone"] == "Asia/Tokyo"
    assert settings["quiet_hours"] == {"start_hour": 22, "end_hour": 7}
    assert [(h["habit_id"], h["name"], h["cadence"]) for h in settings["habits"]] == [("walk", "a walk", "daily")]


async def test_that_s_wrong_is_a_dismissal_the_policy_learns_from(client, container):
    user_id, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    body = await recommend_until_tip(client, token)
    response = await client.post(
        "/v1/feedback",
        json={"decision_id": body["decision_id"], "reaction": "dismiss", "reason": "wrong_why"},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    assert response.json()["learned"] is True
    assert (await policy_row(container, user_id)).observations == 1
    assert (await decision_row(container, body["decision_id"])).reason == "wrong_why"
