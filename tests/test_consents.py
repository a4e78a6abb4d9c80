"""Consents as records (ADR 0022), on SQLite and Postgres: kept as history and exported, erased with the
account, checked before every processing, and a withdrawal that stops it and deletes what it produced
in its own transaction."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy import event, func, select

from ml.features.context import assemble_context
from ml.features.model import IncrementalFeatures
from ml.serving.engine import MlEngine
from oo_contracts.consents import (
    CONSENT_TEXTS,
    ConsentChange,
    ConsentHow,
    ConsentPurpose,
    ConsentsUpdate,
    granted_by_default,
)
from oo_contracts.recommendation import GenerateRequest, GenerateResponse, TipCandidate
from oo_sdk import OoClient
from services.bootstrap import Container, bootstrap
from services.events.tables import events_store
from services.migrations.runner import upgrade_to_head
from services.profile.tables import profile_consents
from services.recommender.consents import ProcessingConsent
from services.recommender.llm_refresh import LlmRefresher
from services.recommender.repository import RecommenderRepository
from services.recommender.settings import RecommenderSettings
from services.recommender.tables import recommender_decisions
from tests.conftest import LOOPBACK, bearer, empty_postgres_url, make_settings, new_user_with_token, upgrade_to
from tests.events_factory import checkin
from tests.ml_factory import busy_day_state
from tests.oo_cli import oo_here, oo_ok
from tests.test_processes import _env, oo
from tests.test_recommender import person_with_a_day, recommend_until_tip, signal

SCHEMA = Path(__file__).parents[1] / "packages" / "shared-types" / "schemas" / "account-export.schema.json"
LLM_CANDIDATE = {
    "candidate_id": "llm:stretch",
    "kind": "advice",
    "text": "Stand up and stretch for a minute.",
    "why": "a small reset",
    "source": "llm",
    "features": {},
}


def answer(purpose: str, granted: bool, version: int = 1) -> dict[str, Any]:
    return {"purpose": purpose, "granted": granted, "version": version}


def consent_event(purpose: str, granted: bool, how: str = "page", version: int = 1) -> dict[str, Any]:
    return signal("profile.consent_set.v1", {**answer(purpose, granted, version), "how": how})


async def put(client: httpx.AsyncClient, token: str, *answers: dict[str, Any]) -> httpx.Response:
    return await client.put("/v1/me/consents", json={"consents": list(answers)}, headers=bearer(token))


async def states(client: httpx.AsyncClient, token: str) -> dict[str, dict[str, Any]]:
    response = await client.get("/v1/me/consents", headers=bearer(token))
    assert response.status_code == 200, response.text
    return {state["purpose"]: state for state in response.json()["consents"]}


async def consent_rows(container: Container, user_id: str) -> int:
    async with container.database.transaction(write=False) as uow:
        query = select(func.count()).select_from(profile_consents).where(profile_consents.c.user_id == user_id)
        return int((await uow.connection.execute(query)).scalar_one())


async def seed_llm_cache(container: Container, user_id: str) -> None:
    now = datetime.now(UTC)
    async with container.database.transaction() as uow:
        await RecommenderRepository().save_llm_cache(
            uow,
            user_id=user_id,
            candidates=[LLM_CANDIDATE],
            outcome="ok",
            generated_at=now,
            expires_at=now + timedelta(hours=1),
            budget_day=now.date().isoformat(),
            calls_on_day=1,
        )


async def llm_cache(container: Container, user_id: str) -> Any:
    async with container.database.transaction(write=False) as uow:
        return await RecommenderRepository().llm_cache(uow, user_id)


# ---- the records ---------------------------------------------------------------------------------


async def test_every_purpose_is_listed_with_the_deployments_default_and_the_text_to_show(client, container):
    _, token = await new_user_with_token(container)
    listed = await states(client, token)
    assert list(listed) == [p.value for p in ConsentPurpose]
    assert {p for p, s in listed.items() if s["granted"]} == {"core", "llm"}  # local mode (ADR 0012)
    for purpose, state in listed.items():
        assert (state["version"], state["at"], state["how"]) == (None, None, None)
        assert state["text"] == CONSENT_TEXTS[ConsentPurpose(purpose)][state["current_version"] - 1]


async def test_answers_are_kept_as_history_the_latest_holds_and_the_export_has_them_all(client, container):
    user_id, token = await new_user_with_token(container)
    assert (await put(client, token, answer("llm", False), answer("push", True))).status_code == 200
    stored = await client.post("/v1/events", json={"events": [consent_event("llm", True)]}, headers=bearer(token))
    assert stored.status_code == 200, stored.text
    assert (await put(client, token, answer("integration:todoist", True))).status_code == 200

    now = await states(client, token)
    assert (now["llm"]["granted"], now["llm"]["version"], now["llm"]["how"]) == (True, 1, "page")
    assert (now["push"]["granted"], now["push"]["how"]) == (True, "api")
    assert now["email"]["version"] is None

    export = (await client.get("/v1/me/export", headers=bearer(token))).json()
    jsonschema.validate(export, json.loads(SCHEMA.read_text()))
    history = [(r["purpose"], r["granted"], r["version"], r["how"]) for r in export["consents"]["history"]]
    assert history == [
        ("llm", False, 1, "api"),
        ("push", True, 1, "api"),
        ("llm", True, 1, "page"),
        ("integration:todoist", True, 1, "api"),
    ]
    assert export["consents"]["history"][0]["text"] == CONSENT_TEXTS[ConsentPurpose.llm][0]
    assert await consent_rows(container, user_id) == 4


async def test_a_repeated_answer_records_nothing_and_a_replayed_event_is_kept_once(client, container):
    user_id, token = await new_user_with_token(container)
    for _ in range(2):
        response = await put(client, token, answer("email", True))
        assert response.status_code == 200
    same = consent_event("email", False)
    for _ in range(2):
        assert (await client.post("/v1/events", json={"events": [same]}, headers=bearer(token))).status_code == 200
    assert await consent_rows(container, user_id) == 2


async def test_erasing_the_account_leaves_no_consent_row(client, container):
    user_id, token = await new_user_with_token(container)
    await put(client, token, answer("core", True), answer("llm", False))
    assert await consent_rows(container, user_id) == 2
    assert (await client.delete("/v1/me", headers=bearer(token))).status_code == 202
    assert await consent_rows(container, user_id) == 0


async def test_the_choice_made_before_records_is_recorded_as_the_llm_texts_first_version(client, container):
    user_id, token = await new_user_with_token(container)
    await seed_llm_cache(container, user_id)
    legacy = signal("profile.llm_processing_set.v1", {"allowed": False})
    assert (await client.post("/v1/events", json={"events": [legacy]}, headers=bearer(token))).status_code == 200
    llm = (await states(client, token))["llm"]
    assert (llm["granted"], llm["version"], llm["how"]) == (False, 1, "api")
    assert await llm_cache(container, user_id) is None


async def test_the_migration_turns_stored_llm_choices_into_records(tmp_path, backend, request):
    url = None
    if backend == "postgres":
        url = await empty_postgres_url(request.getfixturevalue("postgres_cluster"))
    container = bootstrap(make_settings(tmp_path, url))
    at = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    choices = [("usr_a", False), ("usr_b", True), ("usr_a", True)]
    rows = [
        {
            "event_id": uuid.uuid4(),
            "type": "profile.llm_processing_set.v1",
            "user_id": user,
            "occurred_at": at + timedelta(minutes=i),
            "recorded_at": at,
            "source": "api",
            "schema_version": 1,
            "payload": {"allowed": allowed},
        }
        for i, (user, allowed) in enumerate(choices)
    ]
    async with container.database.engine.begin() as connection:
        await connection.run_sync(upgrade_to(container.database, "0006"))
        await connection.execute(events_store.insert(), rows)
    await upgrade_to_head(container.database)
    async with container.database.transaction(write=False) as uow:
        a = await container.profile.consent_records.states(uow, "usr_a")
        query = select(profile_consents).order_by(profile_consents.c.seq)
        kept = (await uow.connection.execute(query)).all()
    await container.database.dispose()
    assert [(r.user_id, r.purpose, r.granted, r.text_version, r.how) for r in kept] == [
        (user, "llm", allowed, 1, "api") for user, allowed in choices
    ]
    assert [r.event_id for r in kept] == [row["event_id"] for row in rows]
    llm = next(s for s in a.consents if s.purpose is ConsentPurpose.llm)
    assert (llm.granted, llm.at) == (True, at + timedelta(minutes=2))


# ---- withdrawal deletes what it produced, in its own transaction -----------------------------------


class _Abandoned(Exception):
    pass


async def test_withdrawing_llm_deletes_the_llm_cache_in_the_withdrawals_transaction(container):
    user_id, _ = await new_user_with_token(container)
    await seed_llm_cache(container, user_id)
    withdraw = ConsentsUpdate(consents=[ConsentChange(purpose=ConsentPurpose.llm, granted=False, version=1)])
    repository = RecommenderRepository()

    async def withdraw_then_abandon() -> None:
        async with container.database.transaction() as uow:
            await container.profile.consents.change(uow, user_id, withdraw, ConsentHow.api)
            assert await repository.llm_cache(uow, user_id) is None  # gone inside the withdrawal's transaction
            raise _Abandoned

    with pytest.raises(_Abandoned):
        await withdraw_then_abandon()
    assert await llm_cache(container, user_id) is not None  # and back with it when it rolls back
    assert await consent_rows(container, user_id) == 0

    async with container.database.transaction() as uow:
        await container.profile.consents.change(uow, user_id, withdraw, ConsentHow.api)
    assert await llm_cache(container, user_id) is None
    assert await consent_rows(container, user_id) == 1


async def test_withdrawing_llm_through_the_api_deletes_the_cache_and_its_candidates_are_not_offered(client, container):
    user_id, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    await seed_llm_cache(container, user_id)
    assert (await put(client, token, answer("llm", False))).status_code == 200
    assert await llm_cache(container, user_id) is None
    await seed_llm_cache(container, user_id)  # as if a refresh slipped past: still never offered
    body = (await client.post("/v1/recommend", json={}, headers=bearer(token))).json()
    async with container.database.transaction(write=False) as uow:
        decision = await RecommenderRepository().decision(uow, uuid.UUID(body["decision_id"]))
    assert decision is not None
    assert all(c["source"] != "llm" for c in decision.candidates)


class FakeIntegrations:
    """The integrations module's side of `IntegrationData`: what it was asked to forget, and in which
    transaction."""

    def __init__(self) -> None:
        self.forgotten: list[tuple[str, str]] = []
        self.fail = False

    async def forget(self, uow, user_id: str, integration: str) -> None:
        assert uow.connection.in_transaction()
        self.forgotten.append((user_id, integration))
        if self.fail:
            raise RuntimeError("the integration's store is down")


async def test_withdrawing_an_integration_asks_it_to_forget_in_the_same_transaction(client, container):
    fake = FakeIntegrations()
    container.profile.consent_projection.integrations = fake
    user_id, token = await new_user_with_token(container)
    await put(client, token, answer("integration:google_calendar", True))
    assert fake.forgotten == []  # a grant forgets nothing
    await put(client, token, answer("integration:google_calendar", False), answer("llm", False))
    assert fake.forgotten == [(user_id, "google_calendar")]

    fake.fail = True  # the erasure fails: the withdrawal is not recorded either
    before = await consent_rows(container, user_id)
    todoist = ConsentsUpdate(
        consents=[ConsentChange(purpose=ConsentPurpose.integration_todoist, granted=False, version=1)]
    )

    async def withdraw() -> None:
        async with container.database.transaction() as uow:
            await container.profile.consents.change(uow, user_id, todoist, ConsentHow.api)

    with pytest.raises(RuntimeError):
        await withdraw()
    assert await consent_rows(container, user_id) == before


# ---- every processing checks its consent first ------------------------------------------------------


async def test_without_core_no_tip_no_learning_and_the_policy_is_forgotten(client, container):
    user_id, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    shown = await recommend_until_tip(client, token)
    async with container.database.transaction() as uow:  # a policy learnt from earlier reactions
        repository = RecommenderRepository()
        assert await repository.replace_policy_state(uow, user_id, "lin-ts-v2", None, {"n": 3}, datetime.now(UTC))
    async with container.database.transaction(write=False) as uow:
        decisions = (await uow.connection.execute(select(func.count()).select_from(recommender_decisions))).scalar()

    assert (await put(client, token, answer("core", False))).status_code == 200
    refused = await client.post("/v1/recommend", json={"timezone": "Asia/Tokyo"}, headers=bearer(token))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "consent_required"
    reaction = {"decision_id": shown["decision_id"], "reaction": "done"}
    refused = await client.post("/v1/feedback", json=reaction, headers=bearer(token))
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "consent_required")
    async with container.database.transaction(write=False) as uow:
        count = select(func.count()).select_from(recommender_decisions)
        assert (await uow.connection.execute(count)).scalar() == decisions  # nothing decided or recorded
        held = await RecommenderRepository().decision(uow, uuid.UUID(shown["decision_id"]))
        assert held is not None
        assert held.reaction is None  # nothing learnt
        assert await RecommenderRepository().policy_state(uow, user_id) is None  # the learnt policy forgotten

    assert (await put(client, token, answer("core", True))).status_code == 200
    assert (await client.post("/v1/recommend", json={}, headers=bearer(token))).status_code == 200


async def test_the_decisions_check_reads_no_statement_of_its_own(client, container):
    _, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    await recommend_until_tip(client, token)  # held from now on: an ask is the read alone
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = container.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert (await client.post("/v1/recommend", json={}, headers=bearer(token))).status_code == 200
        await put(client, token, answer("core", False))
        statements.clear()
        assert (await client.post("/v1/recommend", json={}, headers=bearer(token))).status_code == 409
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert not [s for s in statements if "profile_consents" in s]
    assert len([s for s in statements if "recommender_feature_state" in s]) == 1  # the decision's one read
    assert not [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


async def test_ingestion_refuses_signals_without_core_and_takes_answers_in_order(client, container):
    _, token = await new_user_with_token(container)
    assert (await put(client, token, answer("core", False))).status_code == 200
    refused = await client.post(
        "/v1/events", json={"events": [consent_event("push", True), checkin()]}, headers=bearer(token)
    )
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert (error["code"], [item["index"] for item in error["items"]]) == ("consent_required", [1])
    export = (await client.get("/v1/me/export", headers=bearer(token))).json()
    assert not [e for e in export["events"]["events"] if e["type"] == "profile.checkin_recorded.v1"]
    assert (await states(client, token))["push"]["granted"] is False  # nothing of the batch was stored

    alone = await client.post("/v1/events", json={"events": [consent_event("push", True)]}, headers=bearer(token))
    assert alone.status_code == 200  # answers alone always go through
    regranted = [consent_event("core", True), checkin(), consent_event("core", False)]
    assert (await client.post("/v1/events", json={"events": regranted}, headers=bearer(token))).status_code == 200
    after = await client.post("/v1/events", json={"events": [checkin()]}, headers=bearer(token))
    assert after.status_code == 409


async def test_a_multi_user_deployment_waits_for_the_persons_yes(multi_user):
    container, client = multi_user
    _, token = await new_user_with_token(container)
    assert not any(s["granted"] for s in (await states(client, token)).values())
    assert (await client.post("/v1/events", json={"events": [checkin()]}, headers=bearer(token))).status_code == 409
    assert (await client.post("/v1/recommend", json={}, headers=bearer(token))).status_code == 409
    assert (await put(client, token, answer("core", True))).status_code == 200
    assert (await client.post("/v1/events", json={"events": [checkin()]}, headers=bearer(token))).status_code == 200
    assert (await client.post("/v1/recommend", json={}, headers=bearer(token))).status_code == 200


async def test_answering_needs_the_consents_scope(client, container):
    _, token = await new_user_with_token(container, "events:write", "account:read", "tips")
    response = await put(client, token, answer("llm", True))
    assert (response.status_code, response.json()["error"]["code"]) == (403, "insufficient_scope")
    for event_ in (consent_event("llm", True), signal("profile.llm_processing_set.v1", {"allowed": True})):
        response = await client.post("/v1/events", json={"events": [event_]}, headers=bearer(token))
        assert (response.status_code, response.json()["error"]["code"]) == (403, "insufficient_scope")
    assert (await client.get("/v1/me/consents", headers=bearer(token))).status_code == 200


class LlmThatTakesItsTime:
    """An ML port whose LLM answers only after `meanwhile` ran: the person's withdrawal during the call."""

    def __init__(self) -> None:
        self.calls = 0
        self.meanwhile: Any = None

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        self.calls += 1
        if self.meanwhile is not None:
            await self.meanwhile()
        return GenerateResponse(candidates=[TipCandidate.model_validate(LLM_CANDIDATE)], llm="ok")

    async def rank(self, request):
        raise NotImplementedError

    async def feedback(self, request):
        raise NotImplementedError

    async def learned(self, request):
        raise NotImplementedError


async def test_the_llm_refresh_asks_core_and_llm_and_a_withdrawal_during_the_call_wins(client, container):
    user_id, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    ml = LlmThatTakesItsTime()
    features = IncrementalFeatures()
    refresher = LlmRefresher(
        RecommenderSettings(),
        RecommenderRepository(),
        ml,
        features,
        container.database.transaction,
        container.auth.identity.hold_active_user,
        ProcessingConsent(features, granted_by_default(True)),
        jobs=container.jobs,
    )
    assert await refresher.refresh(user_id) == "ok"
    assert await llm_cache(container, user_id) is not None

    async def withdraw() -> None:
        await put(client, token, answer("llm", False))

    ml.meanwhile = withdraw
    assert await refresher.refresh(user_id) == "not_allowed"
    assert await llm_cache(container, user_id) is None  # the answer that came back was not written
    ml.meanwhile = None
    assert await refresher.refresh(user_id) == "not_allowed"
    assert ml.calls == 2  # no LLM call once withdrawn

    await put(client, token, answer("llm", True), answer("core", False))
    assert await refresher.refresh(user_id) == "not_allowed"  # no core, no LLM either
    assert ml.calls == 2


async def test_the_engine_never_asks_the_llm_for_a_person_who_said_no():
    class Refusing:
        async def generate(self, *_args):
            raise AssertionError("the LLM was asked")

    engine = MlEngine(llm=Refusing())  # type: ignore[arg-type]
    state = busy_day_state()
    state.llm_processing = False
    context = assemble_context("usr_test", state, datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    cached = [TipCandidate.model_validate(LLM_CANDIDATE)]
    response = await engine.generate(GenerateRequest(context=context, llm=True, cached_llm=cached))
    assert response.llm == "off"
    assert all(c.source != "llm" for c in response.candidates)


# ---- the HTTP contract ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"consents": [answer("telepathy", True)]}, "consents.0.purpose", "Input should be"),
        ({"consents": [answer("llm", True, 0)]}, "consents.0.version", "greater than or equal to 1"),
        ({"consents": [answer("llm", True, 2)]}, "consents.0", "has no text version 2"),
        ({"consents": [answer("llm", True), answer("llm", False)]}, None, "answered twice"),
        ({"consents": []}, "consents", "at least 1"),
        ({"consents": [{"purpose": "llm", "version": 1}]}, "consents.0.granted", "Field required"),
        ({"consents": [{**answer("llm", True), "how": "cli"}]}, "consents.0.how", "Extra inputs"),
        ({"consents": [answer("llm", True)], "user_id": "usr_other"}, "user_id", "Extra inputs"),
    ],
)
async def test_invalid_answers_are_refused_with_a_422_that_names_the_part(client, container, body, field, words):
    user_id, token = await new_user_with_token(container)
    response = await client.put("/v1/me/consents", json=body, headers=bearer(token))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert any(item.get("field") == field and words in item["problem"] for item in error["items"]), error
    assert await consent_rows(container, user_id) == 0


async def test_an_answer_to_a_text_that_does_not_exist_is_refused_at_ingestion_too(client, container):
    _, token = await new_user_with_token(container)
    response = await client.post(
        "/v1/events", json={"events": [consent_event("llm", True, version=9)]}, headers=bearer(token)
    )
    assert response.status_code == 422
    assert "has no text version 9" in response.json()["error"]["items"][0]["problem"]


async def test_openapi_documents_the_consent_routes_and_every_4xx(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    get, put_ = paths["/v1/me/consents"]["get"], paths["/v1/me/consents"]["put"]
    assert {"401", "403", "503"} <= set(get["responses"])
    assert {"400", "401", "403", "413", "422", "503"} <= set(put_["responses"])
    assert put_["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ConsentsUpdate"
    }
    assert "409" in paths["/v1/recommend"]["post"]["responses"]
    assert "consent_required" in paths["/v1/recommend"]["post"]["description"]


# ---- the other ways in: the SDK and the command line --------------------------------------------------


async def test_the_sdk_reads_and_answers_consents(app, container):
    _, token = await new_user_with_token(container)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with OoClient(LOOPBACK, token, transport=transport) as oo_client:
        email = ConsentChange(purpose=ConsentPurpose.email, granted=True, version=1)
        answered = await oo_client.set_consents(ConsentsUpdate(consents=[email]))
        again = await oo_client.set_consents(ConsentsUpdate(consents=[email]))  # a retry records nothing
        read = await oo_client.consents()
    assert answered == again == read
    state = next(s for s in read.consents if s.purpose is ConsentPurpose.email)
    assert (state.granted, state.version, state.how) == (True, 1, ConsentHow.api)


def test_the_command_line_records_answers_as_given_there(tmp_path):
    env = _env(tmp_path)
    user = oo(env, "users", "create")  # the real entry point once; the rest in this process
    assert (
        oo_ok(env, "consents", "grant", user, "email", "integration:todoist") == "granted: email, integration:todoist"
    )
    assert oo_ok(env, "consents", "withdraw", user, "llm") == "withdrawn: llm"
    shown = dict(line.split("\t", 1) for line in oo_ok(env, "consents", "show", user).splitlines())
    assert shown["email"].startswith("granted\tv1 cli ")
    assert shown["llm"].startswith("not granted\tv1 cli ")
    assert shown["core"] == "granted\tdefault"
    nobody = oo_here(env, "consents", "grant", "usr_nobody", "core")
    assert (nobody.returncode, nobody.stderr.strip()) == (1, "oo: no user 'usr_nobody'")
    unknown = oo_here(env, "consents", "grant", user, "llm", "--version", "2")
    assert unknown.returncode == 2
