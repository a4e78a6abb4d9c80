"""POST /v1/recommend and /v1/feedback: one tip with a true why, and learning from each reaction."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ml.experiments.featurize import FEATURE_NAMES
from ml.experiments.truth import untrue_clauses
from ml.features.state import FeatureState
from oo_contracts.recommendation import RankRequest, TipCandidate, UserContext
from services.recommender.tables import recommender_decisions, recommender_policy_state
from tests.conftest import bearer, new_user_with_token
from tests.events_factory import daytime_zone


def signal(event_type: str, payload: dict, at: datetime | None = None) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "occurred_at": (at or datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "payload": payload,
    }


async def person_with_a_day(client, token: str) -> str:
    """A person at noon in their zone (returned) with a check-in, a task due tomorrow and a gap."""
    now, zone = datetime.now(UTC), daytime_zone()
    events = [
        signal("recommender.context_observed.v1", {"timezone": zone, "device_class": "phone"}),
        signal("profile.checkin_recorded.v1", {"energy": 4, "mood": 4}),
        signal(
            "integrations.task_added.v1",
            {
                "task_id": "t-sam",
                "title": "Reply to Sam",
                "estimated_minutes": 10,
                "priority": 3,
                "due": (now + timedelta(hours=30)).isoformat(),
            },
        ),
        signal(
            "integrations.busy_interval_recorded.v1",
            {"start": (now + timedelta(minutes=40)).isoformat(), "end": (now + timedelta(hours=2)).isoformat()},
        ),
    ]
    response = await client.post("/v1/events", json={"events": events}, headers=bearer(token))
    assert response.status_code == 200, response.text
    return zone


async def recommend_until_tip(client, token: str, tries: int = 20) -> dict:
    for _ in range(tries):
        body = (await client.post("/v1/recommend", json={}, headers=bearer(token))).json()
        if body["tip"] is not None:
            return dict(body)
    raise AssertionError("silence every time")


async def test_a_person_with_signals_gets_one_tip_with_a_true_why(client, container):
    _, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    response = await client.post(
        "/v1/recommend", json={"timezone": "Europe/Berlin", "device_class": "desktop"}, headers=bearer(token)
    )
    assert response.status_code == 200
    body = response.json()
    uuid.UUID(body["decision_id"])
    tip = (await recommend_until_tip(client, token))["tip"]
    assert tip["kind"] in ("advice", "todo", "checkin")
    assert [a["label"] for a in tip["actions"]] == ["Done", "Later", "Not for me"]
    assert tip["text"]
    export = (await client.get("/v1/me/export", headers=bearer(token))).json()
    [decision] = [d for d in export["recommender"]["decisions"] if d["chosen"] == tip["id"]]
    state = FeatureState.model_validate(export["recommender"]["feature_state"])
    ref = next(c["ref_id"] for c in decision["candidates"] if c["candidate_id"] == tip["id"])
    assert untrue_clauses(tip["why"], state, datetime.fromisoformat(decision["created_at"]), ref) == []
    # The log says which policy features moved the choice, with their contributions.
    assert 0 < len(decision["effects"]) <= 8
    assert set(decision["effects"]) <= set(FEATURE_NAMES)


async def test_silence_is_a_null_tip_with_retry_after(client, container):
    _, token = await new_user_with_token(container)
    seen_silence = False
    for _ in range(30):
        body = (await client.post("/v1/recommend", headers=bearer(token))).json()
        if body["tip"] is not None:  # a shown tip stays until reacted to: react, then ask again
            await client.post(
                "/v1/feedback", json={"decision_id": body["decision_id"], "reaction": "later"}, headers=bearer(token)
            )
            continue
        if body["tip"] is None:
            assert body["retry_after"] > 0
            seen_silence = True
            feedback = await client.post(
                "/v1/feedback", json={"decision_id": body["decision_id"], "reaction": "done"}, headers=bearer(token)
            )
            assert feedback.status_code == 409
            assert feedback.json()["error"]["code"] == "nothing_shown"
            break
    # A brand-new person has only the check-in and advice to hear; right after a tip, silence is likely.
    assert seen_silence


async def policy_row(container, user_id: str):
    async with container.database.transaction(write=False) as uow:
        return (
            await uow.connection.execute(
                select(recommender_policy_state).where(recommender_policy_state.c.user_id == user_id)
            )
        ).first()


async def decision_row(container, decision_id: str):
    async with container.database.transaction(write=False) as uow:
        return (
            await uow.connection.execute(
                select(recommender_decisions).where(recommender_decisions.c.decision_id == uuid.UUID(decision_id))
            )
        ).first()


async def test_a_reaction_updates_the_policy_at_once_and_changes_what_comes_next(client, container):
    user_id, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    body = await recommend_until_tip(client, token)
    decision = await decision_row(container, body["decision_id"])
    context = UserContext.model_validate(decision.context)
    candidates = [TipCandidate.model_validate(c) for c in decision.candidates]
    engine = container.recommender.service._ml

    async def probability_of_shown(policy_state) -> float:
        ranked = [
            await engine.rank(RankRequest(context=context, candidates=candidates, policy_state=policy_state, seed=s))
            for s in range(200)
        ]
        return float(sum(r.chosen == decision.chosen for r in ranked) / len(ranked))

    before = await probability_of_shown(None)
    response = await client.post(
        "/v1/feedback",
        json={"decision_id": body["decision_id"], "reaction": "dismiss", "reason": "not_relevant"},
        headers=bearer(token),
    )
    assert response.status_code == 200
    assert response.json() == {"decision_id": body["decision_id"], "reaction": "dismiss", "learned": True}
    policy = await policy_row(container, user_id)
    assert policy.observations == 1
    after = await probability_of_shown(policy.state)
    assert after < before
    assert (await decision_row(container, body["decision_id"])).reaction == "dismiss"


async def test_feedback_that_cannot_apply_is_4xx_and_changes_nothing(client, container):
    user_id, token = await new_user_with_token(container)
    _, other_token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    decision_id = (await recommend_until_tip(client, token))["decision_id"]

    def post(json, who=token):
        return client.post("/v1/feedback", json=json, headers=bearer(who))

    assert (await post({"decision_id": decision_id, "reaction": "done"}, other_token)).status_code == 404
    assert (await post({"decision_id": str(uuid.uuid4()), "reaction": "done"})).status_code == 404
    assert (await post({"decision_id": decision_id, "reaction": "love_it"})).status_code == 422
    assert (await post({"decision_id": decision_id, "reaction": "later", "reason": "bored"})).status_code == 422
    assert await policy_row(container, user_id) is None
    assert (await decision_row(container, decision_id)).reaction is None

    assert (await post({"decision_id": decision_id, "reaction": "later", "reason": "busy"})).status_code == 200
    state_after_first = (await policy_row(container, user_id)).state
    twice = await post({"decision_id": decision_id, "reaction": "done"})
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "already_reacted"
    assert (await policy_row(container, user_id)).state == state_after_first
    assert (await decision_row(container, decision_id)).reaction == "later"


async def test_a_done_todo_is_never_suggested_again(client, container):
    _, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    for _ in range(40):
        body = (await client.post("/v1/recommend", headers=bearer(token))).json()
        tip = body["tip"]
        if tip and tip["source"] in ("quick_win", "energy_match"):
            await client.post(
                "/v1/feedback", json={"decision_id": body["decision_id"], "reaction": "done"}, headers=bearer(token)
            )
            break
        if tip:
            await client.post(
                "/v1/feedback", json={"decision_id": body["decision_id"], "reaction": "later"}, headers=bearer(token)
            )
    else:
        pytest.fail("the task was never suggested")
    for _ in range(20):
        body = (await client.post("/v1/recommend", headers=bearer(token))).json()
        tip = body["tip"]
        assert tip is None or "Reply to Sam" not in tip["text"]
        if tip:
            await client.post(
                "/v1/feedback", json={"decision_id": body["decision_id"], "reaction": "later"}, headers=bearer(token)
            )


async def test_recommender_state_is_exported_and_deleted(client, container):
    _user_id, token = await new_user_with_token(container)
    zone = await person_with_a_day(client, token)
    body = await recommend_until_tip(client, token)
    await client.post(
        "/v1/feedback", json={"decision_id": body["decision_id"], "reaction": "done"}, headers=bearer(token)
    )
    export = (await client.get("/v1/me/export", headers=bearer(token))).json()["recommender"]
    assert export["policy"]["observations"] == 1
    assert any(d["decision_id"] == body["decision_id"] and d["reaction"] == "done" for d in export["decisions"])
    assert export["feature_state"]["timezone"] == zone


@pytest.mark.parametrize("field", ["timezone", "device_class"])
async def test_a_null_context_field_is_refused_and_the_last_known_value_stays(client, container, field):
    _, token = await new_user_with_token(container)
    known = {"timezone": "Europe/Berlin", "device_class": "desktop"}
    assert (await client.post("/v1/recommend", json=known, headers=bearer(token))).status_code == 200
    before = (await client.get("/v1/me/export", headers=bearer(token))).json()["recommender"]

    response = await client.post("/v1/recommend", json={**known, field: None}, headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_request",
        "message": "the request was rejected; nothing was stored",
        "items": [
            {
                "field": field,
                "problem": "must not be null: leave the field out to keep the last known value, which is never cleared",
            }
        ],
    }
    assert (await client.get("/v1/me/export", headers=bearer(token))).json()["recommender"] == before
    left_out = await client.post("/v1/recommend", json={}, headers=bearer(token))
    assert left_out.status_code == 200
    assert (await client.get("/v1/me/settings", headers=bearer(token))).json()["timezone"] == "Europe/Berlin"
    documented = (await client.get("/openapi.json")).json()["components"]["schemas"]["RecommendRequest"]
    described = dict(documented["properties"][field])
    assert "null is refused (422)" in described.pop("description")
    assert "null" not in json.dumps(described)  # neither a type nor a default


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("profile.timezone_set.v1", {"timezone": None}),
        ("recommender.context_observed.v1", {"timezone": None, "device_class": "phone"}),
    ],
)
async def test_a_null_zone_in_an_event_is_refused(client, container, event_type, payload):
    _, token = await new_user_with_token(container)
    event = signal(event_type, payload)
    response = await client.post("/v1/events", json={"events": [event]}, headers=bearer(token))
    assert response.status_code == 422
    assert [(i["id"], i["field"]) for i in response.json()["error"]["items"]] == [(event["id"], "payload.timezone")]
    assert (await client.get("/v1/me/settings", headers=bearer(token))).json()["timezone"] == "UTC"


async def test_a_device_sets_the_zone_only_while_the_person_has_none_and_the_person_changes_it(client, container):
    _, token = await new_user_with_token(container)

    async def ask(timezone: str, device: str = "phone") -> None:
        response = await client.post(
            "/v1/recommend", json={"timezone": timezone, "device_class": device}, headers=bearer(token)
        )
        assert response.status_code == 200

    # The first device gives the account its zone; a second device elsewhere does not move it.
    for timezone, device in (("Europe/Berlin", "phone"), ("Europe/Berlin", "phone"), ("Asia/Tokyo", "desktop")):
        await ask(timezone, device)
    assert (await client.get("/v1/me/settings", headers=bearer(token))).json()["timezone"] == "Europe/Berlin"
    chosen = signal("profile.timezone_set.v1", {"timezone": "Asia/Tokyo"}, datetime.now(UTC))
    assert (await client.post("/v1/events", json={"events": [chosen]}, headers=bearer(token))).status_code == 200
    await ask("Europe/Berlin", "desktop")
    assert (await client.get("/v1/me/settings", headers=bearer(token))).json()["timezone"] == "Asia/Tokyo"
    export = (await client.get("/v1/me/export", headers=bearer(token))).json()
    observed = [
        (e["payload"]["timezone"], e["payload"]["device_class"])
        for e in export["events"]["events"]
        if e["type"] == "recommender.context_observed.v1"
    ]
    assert observed == [("Europe/Berlin", "phone")]
    bad = await client.post("/v1/recommend", json={"timezone": "Mars/Base"}, headers=bearer(token))
    assert bad.status_code == 422


async def test_a_silence_holds_across_asks_until_a_new_signal(client, container):
    _, token = await new_user_with_token(container)
    now = datetime.now(UTC)
    busy = {"start": (now - timedelta(minutes=5)).isoformat(), "end": (now + timedelta(hours=1)).isoformat()}
    task = {"task_id": "t-x", "title": "Write the report", "estimated_minutes": 10}
    events = [
        signal("profile.checkin_recorded.v2", {"energy": 3}, now - timedelta(minutes=1)),
        signal("integrations.task_added.v2", task, now - timedelta(minutes=1)),
        signal("integrations.busy_interval_recorded.v1", busy, now - timedelta(minutes=1)),
    ]
    assert (await client.post("/v1/events", json={"events": events}, headers=bearer(token))).status_code == 200
    first = (await client.post("/v1/recommend", headers=bearer(token))).json()
    assert (first["tip"], first["silence"]) == (None, "nothing_to_suggest")  # busy: nothing interrupts
    again = (await client.post("/v1/recommend", headers=bearer(token))).json()
    assert again["decision_id"] == first["decision_id"]
    desktop = (await client.post("/v1/recommend", json={"device_class": "desktop"}, headers=bearer(token))).json()
    assert (desktop["decision_id"], desktop["silence"]) == (first["decision_id"], "nothing_to_suggest")
    assert 0 < again["retry_after"] <= first["retry_after"]
    checkin = signal("profile.checkin_recorded.v2", {"mood": 4}, datetime.now(UTC))
    assert (await client.post("/v1/events", json={"events": [checkin]}, headers=bearer(token))).status_code == 200
    after = (await client.post("/v1/recommend", headers=bearer(token))).json()
    assert after["decision_id"] != first["decision_id"]


@pytest.fixture
def silence_not_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OO_HOLD_SILENCE", "false")  # read when the container is built, after this


async def test_with_the_silence_hold_off_every_ask_decides_anew(silence_not_held, client, container):
    _, token = await new_user_with_token(container)
    now = datetime.now(UTC)
    busy = {"start": (now - timedelta(minutes=5)).isoformat(), "end": (now + timedelta(hours=1)).isoformat()}
    task = {"task_id": "t-x", "title": "Write the report", "estimated_minutes": 10}
    events = [
        signal("integrations.task_added.v2", task, now - timedelta(minutes=1)),
        signal("integrations.busy_interval_recorded.v1", busy, now - timedelta(minutes=1)),
    ]
    assert (await client.post("/v1/events", json={"events": events}, headers=bearer(token))).status_code == 200
    first = (await client.post("/v1/recommend", headers=bearer(token))).json()
    again = (await client.post("/v1/recommend", headers=bearer(token))).json()
    assert (first["silence"], again["silence"]) == ("nothing_to_suggest", "nothing_to_suggest")
    assert again["decision_id"] != first["decision_id"]


async def test_quiet_hours_name_themselves_as_the_silence(client, container):
    _, token = await new_user_with_token(container)
    hour = datetime.now(UTC).hour
    quiet = signal("profile.quiet_hours_set.v1", {"start_hour": hour, "end_hour": (hour + 2) % 24}, datetime.now(UTC))
    assert (await client.post("/v1/events", json={"events": [quiet]}, headers=bearer(token))).status_code == 200
    body = (await client.post("/v1/recommend", json={"timezone": "UTC"}, headers=bearer(token))).json()
    assert (body["tip"], body["silence"]) == (None, "quiet_hours")
    assert 3600 < body["retry_after"] <= 7200


async def test_a_shown_tip_stays_until_the_person_reacts(client, container):
    _, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    first = await recommend_until_tip(client, token)
    again = (await client.post("/v1/recommend", headers=bearer(token))).json()
    assert again == first
    await client.post(
        "/v1/feedback", json={"decision_id": first["decision_id"], "reaction": "dismiss"}, headers=bearer(token)
    )
    after = (await client.post("/v1/recommend", headers=bearer(token))).json()
    assert after["decision_id"] != first["decision_id"]
    assert after["tip"] is None or after["tip"]["id"] != first["tip"]["id"]


async def test_a_held_todo_is_dropped_once_its_task_is_done_elsewhere(client, container):
    _, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    for _ in range(40):
        body = (await client.post("/v1/recommend", headers=bearer(token))).json()
        if body["tip"] and body["tip"]["source"] in ("quick_win", "energy_match"):
            break
        if body["tip"]:
            await client.post(
                "/v1/feedback", json={"decision_id": body["decision_id"], "reaction": "later"}, headers=bearer(token)
            )
    else:
        pytest.fail("the task was never suggested")
    done = signal("integrations.task_completed.v1", {"task_id": "t-sam"}, datetime.now(UTC))
    assert (await client.post("/v1/events", json={"events": [done]}, headers=bearer(token))).status_code == 200
    after = (await client.post("/v1/recommend", headers=bearer(token))).json()
    assert after["decision_id"] != body["decision_id"]
