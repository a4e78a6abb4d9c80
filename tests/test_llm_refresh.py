"""LLM candidates in the background: generated when signals change, cached, read by /v1/recommend,
gated by the person's choice and a daily budget — against the session's real LiteLLM proxy, each case
behind its own tip-generator alias (`tests/litellm_proxy.py`)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.app import create_app
from services.bootstrap import Container, bootstrap
from services.recommender.repository import RecommenderRepository
from services.recommender.settings import RecommenderSettings
from tests.conftest import LOOPBACK, bearer, make_settings, new_user_with_token
from tests.events_factory import daytime_zone
from tests.litellm_proxy import SAM, WALK, Proxy
from tests.test_recommender import decision_row, recommend_until_tip, signal


@asynccontextmanager
async def running_oo(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    proxy: Proxy,
    alias: str = "tip-generator",
    *,
    local_mode: bool = True,
    budget: int = 24,
) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    monkeypatch.setenv("LITELLM_URL", proxy.url)
    monkeypatch.setenv("LITELLM_API_KEY", proxy.key)
    monkeypatch.setenv("OO_LLM_TIP_GENERATOR_ALIAS", alias)
    monkeypatch.setenv("OO_LLM_TIMEOUT_SECONDS", "10")  # room for a loaded machine: an error must not time out
    settings = make_settings(tmp_path, None, local_mode=local_mode)
    settings = dataclasses.replace(settings, recommender=RecommenderSettings(llm_daily_budget=budget))
    container = bootstrap(settings)
    container.recommender.service.seed_source = itertools.count(1).__next__  # reproducible draws, as elsewhere
    await container.prepare_storage()
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
            yield container, client


async def a_day_with_sam(client: httpx.AsyncClient, token: str, *extra: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    sam = {"task_id": "t1", "title": "Reply to Sam", "estimated_minutes": 10, "priority": 3}
    events = [
        signal("recommender.context_observed.v1", {"timezone": daytime_zone(), "device_class": "phone"}),
        signal("profile.checkin_recorded.v1", {"energy": 4, "mood": 4}),
        signal("integrations.task_added.v1", {**sam, "due": (now + timedelta(hours=30)).isoformat()}),
        *extra,
    ]
    response = await client.post("/v1/events", json={"events": events}, headers=bearer(token))
    assert response.status_code == 200, response.text


async def test_signals_refresh_the_cache_in_the_background_and_tips_come_from_it(tmp_path, monkeypatch, litellm_proxy):
    async with running_oo(tmp_path, monkeypatch, litellm_proxy) as (container, client):
        _, token = await new_user_with_token(container)
        await a_day_with_sam(client, token)
        refresher = container.recommender.llm_refresher
        assert refresher is not None
        await container.jobs.idle()
        export = (await client.get("/v1/me/export", headers=bearer(token))).json()
        cache = export["recommender"]["llm_cache"]
        assert cache["outcome"] == "ok"
        assert [c["text"] for c in cache["candidates"]] == [WALK["text"], SAM["text"]]

        body = (await client.post("/v1/recommend", json={}, headers=bearer(token))).json()
        offered = (await decision_row(container, body["decision_id"])).candidates
        assert {c["text"] for c in offered if c["source"] == "llm"} == {WALK["text"], SAM["text"]}
        metrics = (await client.get("/metrics")).text
        assert 'oo_ml_llm_generations_total{outcome="ok"} 1.0' in metrics


async def test_a_failing_llm_leaves_the_rules_serving_and_is_counted(tmp_path, monkeypatch, litellm_proxy):
    async with running_oo(tmp_path, monkeypatch, litellm_proxy, "tip-generator-error") as (container, client):
        _, token = await new_user_with_token(container)
        await a_day_with_sam(client, token)
        assert container.recommender.llm_refresher is not None
        await container.jobs.idle()
        body = (await client.post("/v1/recommend", json={}, headers=bearer(token))).json()
        offered = (await decision_row(container, body["decision_id"])).candidates
        assert offered, "the rules serve"
        assert all(c["source"] != "llm" for c in offered)
        assert 'oo_ml_llm_generations_total{outcome="error"} 1.0' in (await client.get("/metrics")).text


async def test_the_request_path_never_asks_the_llm(tmp_path, monkeypatch, litellm_proxy):
    async with running_oo(tmp_path, monkeypatch, litellm_proxy, "tip-generator-slow") as (container, client):
        _, token = await new_user_with_token(container)
        await a_day_with_sam(client, token, signal("profile.llm_processing_set.v1", {"allowed": False}))
        assert container.recommender.llm_refresher is not None
        await container.jobs.idle()
        for _ in range(5):
            assert (await client.post("/v1/recommend", json={}, headers=bearer(token))).status_code == 200
        assert "oo_ml_llm_generations_total{" not in (await client.get("/metrics")).text  # never asked


async def test_llm_processing_is_opt_in_beyond_local_mode_and_a_choice_everywhere(tmp_path, monkeypatch, litellm_proxy):
    async with running_oo(tmp_path, monkeypatch, litellm_proxy, local_mode=False) as (container, client):
        refresher = container.recommender.llm_refresher
        assert refresher is not None
        user_id, token = await new_user_with_token(container)
        # Beyond local mode every purpose waits for the person's yes, processing at all too (ADR 0022).
        core = {"consents": [{"purpose": "core", "granted": True, "version": 1}]}
        assert (await client.put("/v1/me/consents", json=core, headers=bearer(token))).status_code == 200
        await a_day_with_sam(client, token)
        await container.jobs.idle()
        assert await refresher.refresh(user_id) == "not_allowed"
        await a_day_with_sam(client, token, signal("profile.llm_processing_set.v1", {"allowed": True}))
        await container.jobs.idle()
        export = (await client.get("/v1/me/export", headers=bearer(token))).json()
        assert export["recommender"]["llm_cache"]["outcome"] == "ok"


async def test_the_daily_budget_stops_refreshes(tmp_path, monkeypatch, litellm_proxy):
    async with running_oo(tmp_path, monkeypatch, litellm_proxy, budget=1) as (container, client):
        refresher = container.recommender.llm_refresher
        assert refresher is not None
        user_id, token = await new_user_with_token(container)
        await a_day_with_sam(client, token)
        await container.jobs.idle()
        assert await refresher.refresh(user_id) == "over_budget"


async def test_llm_tips_reach_the_page_when_the_policy_picks_them(tmp_path, monkeypatch, litellm_proxy):
    monkeypatch.setenv("OO_TIP_HOLD_SECONDS", "0")  # every ask a fresh decision
    async with running_oo(tmp_path, monkeypatch, litellm_proxy) as (container, client):
        _, token = await new_user_with_token(container)
        await a_day_with_sam(client, token)
        assert container.recommender.llm_refresher is not None
        await container.jobs.idle()
        shown = []
        for _ in range(100):
            tip = (await client.post("/v1/recommend", json={}, headers=bearer(token))).json()["tip"]
            shown.append(tip and tip["source"])

        assert "llm" in shown
        assert len(set(shown) - {None, "llm"}) >= 1  # rules' tips too: the bandit ranks them together


async def test_the_refresh_knows_the_tips_the_person_dismissed(tmp_path, monkeypatch, litellm_proxy):
    async with running_oo(tmp_path, monkeypatch, litellm_proxy) as (container, client):
        user_id, token = await new_user_with_token(container)
        await a_day_with_sam(client, token)
        body = await recommend_until_tip(client, token)
        dismissed = {"decision_id": body["decision_id"], "reaction": "dismiss", "reason": "not_relevant"}
        assert (await client.post("/v1/feedback", json=dismissed, headers=bearer(token))).status_code == 200
        repository = RecommenderRepository()
        async with container.database.transaction(write=False) as uow:
            assert await repository.dismissed_texts(uow, user_id, 20) == [body["tip"]["text"]]
