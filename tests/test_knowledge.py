"""GET /v1/me/knowledge, deleting one fact, and forgetting what was learned (ADR 0026), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ml.experiments.learned_truth import reactions_from_decisions, untrue_learned
from ml.features.state import FeatureState
from oo_contracts.events import Reaction
from oo_contracts.recommendation import FeedbackRequest, RecommendRequest
from services.bootstrap import Container
from services.recommender.tables import recommender_decisions, recommender_feature_state, recommender_policy_state
from tests.calendar_servers import vevent
from tests.conftest import bearer, new_user_with_token
from tests.ml_factory import NOON, event, state_with
from tests.test_calendar_ics import serve
from tests.test_read_decide_record import caller_of
from tests.test_recommender import person_with_a_day, signal

HABIT = {"habit_id": "h-walk", "name": "a short walk", "window_start_hour": 0, "window_end_hour": 23, "effort": 1}


async def post(client, token: str, *events: dict) -> None:
    response = await client.post("/v1/events", json={"events": list(events)}, headers=bearer(token))
    assert response.status_code == 200, response.text


async def knowledge(client, token: str) -> dict:
    response = await client.get("/v1/me/knowledge", headers=bearer(token))
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids(body: dict, group: str) -> list[str]:
    return [item["id"] for item in body[group]]


async def react_many(container: Container, user_id: str, reaction: str, days: int, start: datetime) -> int:
    """Ask once a morning for `days` mornings and react to every tip shown; the number of reactions. (The
    use cases are called with their clock: a person is shown few tips an hour, by design.)"""
    service, caller, reacted = container.recommender.service, caller_of(user_id), 0
    for day in range(days):
        at = start + timedelta(days=day)
        answer = await service.recommend(caller, RecommendRequest(), now=at)
        if answer.tip is not None:
            request = FeedbackRequest(decision_id=answer.decision_id, reaction=Reaction(reaction))
            await service.feedback(caller, request, now=at + timedelta(minutes=1))
            reacted += 1
    return reacted


async def untrue_sentences(container: Container, user_id: str, sentences: list[str]) -> list[str]:
    """The independent check, on what the database recorded: the decision log and when learning was forgotten."""
    async with container.database.transaction(write=False) as uow:
        rows = (
            await uow.connection.execute(
                select(recommender_decisions).where(recommender_decisions.c.user_id == user_id)
            )
        ).all()
        state = (
            await uow.connection.execute(
                select(recommender_feature_state.c.state).where(recommender_feature_state.c.user_id == user_id)
            )
        ).scalar_one()
    since = FeatureState.model_validate(state).learning_since
    return untrue_learned(sentences, reactions_from_decisions(dict(row._mapping) for row in rows), since)


async def policy_rows(container: Container, user_id: str) -> int:
    async with container.database.transaction(write=False) as uow:
        query = select(recommender_policy_state).where(recommender_policy_state.c.user_id == user_id)
        return len((await uow.connection.execute(query)).all())


async def test_the_facts_are_listed_in_plain_words_and_each_says_how_it_goes(client, container):
    _, token = await new_user_with_token(container)
    zone = await person_with_a_day(client, token)
    await post(
        client,
        token,
        signal("profile.habit_defined.v2", HABIT),
        signal("profile.quiet_hours_set.v1", {"start_hour": 22, "end_hour": 7}),
        signal("profile.checkin_recorded.v2", {"energy": 2}),
    )
    body = await knowledge(client, token)
    assert ids(body, "tasks") == ["task:t-sam"]
    assert body["tasks"][0]["text"] == "Reply to Sam"
    assert [h["text"] for h in body["habits"]] == ["a short walk: not done yet"]
    assert len(body["checkins"]) == 2
    assert body["checkins"][0]["text"].endswith("energy 2 of 5")  # newest first
    assert [s["text"] for s in body["settings"]] == [f"Time zone: {zone}", "Quiet hours: 22:00–07:00"]
    assert {c["id"] for c in body["consents"]} >= {"consent:core", "consent:llm"}
    # Unanswered permissions only for what this server offers: no Todoist app, no Google client here.
    offered = {
        i["provider"] for i in (await client.get("/v1/me/integrations", headers=bearer(token))).json()["integrations"]
    }
    listed = {c["id"].removeprefix("consent:integration:") for c in body["consents"] if "integration:" in c["id"]}
    assert listed == offered == {"caldav", "ics"}
    answer = {"consents": [{"purpose": "integration:google_calendar", "granted": False, "version": 1}]}
    assert (await client.put("/v1/me/consents", json=answer, headers=bearer(token))).status_code == 200
    answered = {c["id"] for c in (await knowledge(client, token))["consents"]}
    assert "consent:integration:google_calendar" in answered  # an answer on record is always shown
    assert body["connections"] == []
    assert body["learned"] == []
    removals = {item["id"]: item["removal"] for group in body.values() for item in group}
    assert removals["habit:h-walk"] == "delete"
    assert removals["consent:core"] == "change_setting"
    assert all(item["how"] for group in body.values() for item in group)


async def test_deleting_facts_one_by_one(client, container):
    _, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    await post(
        client, token, signal("profile.habit_defined.v2", HABIT), signal("profile.checkin_recorded.v2", {"mood": 5})
    )
    body = await knowledge(client, token)
    checkin = ids(body, "checkins")[0]

    for item in ("habit:h-walk", "task:t-sam", checkin):
        response = await client.delete(f"/v1/me/knowledge/{item}", headers=bearer(token))
        assert response.status_code == 204, response.text
    after = await knowledge(client, token)
    assert after["habits"] == []
    assert after["tasks"] == []
    assert checkin not in ids(after, "checkins")
    assert len(after["checkins"]) == 1
    settings = (await client.get("/v1/me/settings", headers=bearer(token))).json()
    assert settings["habits"] == []

    again = await client.delete("/v1/me/knowledge/habit:h-walk", headers=bearer(token))
    assert (again.status_code, again.json()["error"]["code"]) == (404, "knowledge_item_not_found")
    setting = await client.delete("/v1/me/knowledge/setting:timezone", headers=bearer(token))
    assert (setting.status_code, setting.json()["error"]["code"]) == (409, "not_deletable")
    malformed = await client.delete("/v1/me/knowledge/not an id", headers=bearer(token))
    assert malformed.status_code == 422


async def test_another_persons_facts_are_not_found_and_stay(client, container):
    _, mine = await new_user_with_token(container)
    _, theirs = await new_user_with_token(container)
    await person_with_a_day(client, theirs)
    await post(client, theirs, signal("profile.habit_defined.v2", HABIT))
    their_checkins = ids(await knowledge(client, theirs), "checkins")
    assert their_checkins
    for item in ("habit:h-walk", "task:t-sam", *their_checkins):
        response = await client.delete(f"/v1/me/knowledge/{item}", headers=bearer(mine))
        assert response.status_code == 404, (item, response.text)
    theirs_after = await knowledge(client, theirs)
    assert (ids(theirs_after, "habits"), ids(theirs_after, "checkins")) == (["habit:h-walk"], their_checkins)


async def test_scopes_guard_reading_and_deleting(client, container):
    _, reader = await new_user_with_token(container, "account:read")
    assert (await client.get("/v1/me/knowledge", headers=bearer(reader))).status_code == 200
    assert (await client.delete("/v1/me/knowledge/habit:h", headers=bearer(reader))).status_code == 403
    assert (await client.post("/v1/me/knowledge/forget-learning", headers=bearer(reader))).status_code == 403
    _, tipper = await new_user_with_token(container, "tips")
    assert (await client.get("/v1/me/knowledge", headers=bearer(tipper))).status_code == 403


async def test_learned_sentences_are_true_and_forgetting_empties_them(client, container):
    user_id, token = await new_user_with_token(container)
    zone = await person_with_a_day(client, token)
    await post(client, token, signal("profile.habit_defined.v2", HABIT))
    mornings = datetime.now(ZoneInfo(zone)).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=40)
    assert await react_many(container, user_id, "done", 30, mornings) >= 10
    learned = (await knowledge(client, token))["learned"]
    assert [s["text"] for s in learned] == ["You tend to act on habit reminders"]
    assert await untrue_sentences(container, user_id, [s["text"] for s in learned]) == []
    assert all(s["removal"] == "forget_learning" for s in learned)
    assert (await client.delete(f"/v1/me/knowledge/{learned[0]['id']}", headers=bearer(token))).status_code == 409

    assert (await client.post("/v1/me/knowledge/forget-learning", headers=bearer(token))).status_code == 204
    after = await knowledge(client, token)
    assert after["learned"] == []
    assert await policy_rows(container, user_id) == 0
    assert ids(after, "habits") == ["habit:h-walk"]  # what the person gave stays
    export = (await client.get("/v1/me/export", headers=bearer(token))).json()
    types = [e["type"] for e in export["events"]["events"]]
    assert types.count("recommender.learning_forgotten.v1") == 1  # auditable: the event is the record

    # Learning starts again from the prior, and sentences rest only on reactions after forgetting.
    await react_many(container, user_id, "later", 8, mornings + timedelta(days=31))
    again = (await knowledge(client, token))["learned"]
    assert await untrue_sentences(container, user_id, [s["text"] for s in again]) == []


def test_a_checkin_deleted_is_as_if_it_had_never_been_given() -> None:
    early, late = NOON - timedelta(hours=2), NOON - timedelta(hours=1)
    first = event("profile.checkin_recorded.v2", {"energy": 2, "mood": 3}, early)
    second = event("profile.checkin_recorded.v2", {"energy": 5}, late)
    state = state_with(first, second)
    assert (state.energy, state.mood, state.last_checkin_at) == (5, 3, late)
    state.apply(event("profile.checkin_removed.v1", {"checkin_id": str(second.id)}, NOON))
    assert (state.energy, state.energy_ema, state.mood, state.last_checkin_at) == (2, 2, 3, early)
    state.apply(event("profile.checkin_removed.v1", {"checkin_id": str(first.id)}, NOON))
    assert (state.energy, state.mood, state.last_checkin_at, state.checkins) == (None, None, None, [])


def test_a_state_from_before_checkins_were_kept_shows_its_latest() -> None:
    stored = {"energy": 4.0, "energy_at": NOON.isoformat(), "last_checkin_at": NOON.isoformat()}
    state = FeatureState.model_validate(stored)
    assert [(c.energy, c.mood, c.at) for c in state.checkins] == [(4, None, NOON)]
    state.apply(event("profile.checkin_removed.v1", {"checkin_id": state.checkins[0].checkin_id}, NOON))
    assert (state.energy, state.last_checkin_at) == (None, None)


async def test_a_connection_is_listed_and_deleted_through_the_disconnect_path(client, ics_files):
    files, base = ics_files
    consent = {"consents": [{"purpose": "integration:ics", "granted": True, "version": 1}]}
    assert (await client.put("/v1/me/consents", json=consent)).status_code == 200
    soon = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=5)
    feed = serve(files, vevent("daily", soon, 30))
    assert (await client.put("/v1/me/integrations/ics", json={"url": base + feed})).status_code == 200
    listed = (await client.get("/v1/me/knowledge")).json()
    assert [(c["id"], c["text"]) for c in listed["connections"]] == [("connection:ics", "ICS calendar link: connected")]

    assert (await client.delete("/v1/me/knowledge/connection:ics")).status_code == 204
    statuses = {i["provider"]: i["status"] for i in (await client.get("/v1/me/integrations")).json()["integrations"]}
    assert statuses["ics"] == "not_connected"
    assert (await client.get("/v1/me/export")).json()["recommender"]["feature_state"]["busy"] == []  # forgotten
    assert (await client.get("/v1/me/knowledge")).json()["connections"] == []
    again = await client.delete("/v1/me/knowledge/connection:ics")
    assert (again.status_code, again.json()["error"]["code"]) == (404, "knowledge_item_not_found")
