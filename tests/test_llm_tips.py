"""LLM tips against a real LiteLLM proxy: every path of `POST /generate` with the tip-generator —
valid tips, invalid JSON, a hallucinated task id, a slow answer past the timeout, an error — each
behind its own alias of the session's one proxy (`tests/litellm_proxy.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import httpx
import openai
import pytest

from ml.features.context import prompt_context
from ml.serving.app import create_ml_app
from ml.serving.engine import MlEngine
from ml.serving.llm import LlmTipGenerator
from ml.serving.llm_dedup import collapse
from ml.serving.llm_merge import merge_cached
from ml.serving.llm_validation import LlmTip, problem_with, to_candidate
from ml.serving.rules import generate
from ml.serving.settings import LlmSettings
from oo_contracts.recommendation import GenerateRequest, UserContext, text_fingerprint, title_slot
from services.recommender.api import HttpMl
from tests.litellm_proxy import SAM, SAME_VECTOR_EMBEDDER, WALK, Proxy
from tests.ml_factory import NOON, busy_day_state, context_of, event


def context() -> UserContext:
    return context_of(busy_day_state())


async def generate_with(
    proxy: Proxy, alias: str = "tip-generator", *, seconds: float = 10.0
) -> tuple[MlEngine, dict[str, Any]]:
    engine = MlEngine(llm=LlmTipGenerator(proxy.url, api_key=proxy.key, timeout=seconds, alias=alias))
    response = await engine.generate(GenerateRequest(context=context(), llm=True))
    return engine, response.model_dump(mode="json")


async def test_valid_tips_become_llm_candidates(litellm_proxy: Proxy) -> None:
    engine, response = await generate_with(litellm_proxy)
    assert response["llm"] == "ok"
    candidates = response["candidates"]
    assert [(c["source"], c["kind"], c["text"], c["ref_id"]) for c in candidates] == [
        ("llm", "advice", WALK["text"], None),
        ("llm", "todo", SAM["text"], "t1"),
    ]
    assert all(c["candidate_id"].startswith("llm:") for c in candidates)
    assert candidates[1]["features"]["urgency"] > candidates[0]["features"]["urgency"]
    assert engine.llm is not None
    assert engine.llm.outcomes.counts == {"ok": 1}
    assert engine.llm.outcomes.dedup == {"lexical": 1}  # the proxy has no `embedder` alias


async def test_a_hallucinated_task_id_is_dropped_and_counted(litellm_proxy: Proxy) -> None:
    engine, response = await generate_with(litellm_proxy, "tip-generator-half-hallucinated")
    assert response["llm"] == "ok"
    assert [c["ref_id"] for c in response["candidates"]] == ["t1"]
    assert engine.llm is not None
    assert engine.llm.outcomes.dropped == {"unknown_ref": 1}

    engine, response = await generate_with(litellm_proxy, "tip-generator-hallucinated")
    assert response["llm"] == "fallback:nothing_valid"
    assert response["candidates"] == [c.model_dump(mode="json") for c in generate(context())]  # the rules, only
    assert engine.llm is not None
    assert engine.llm.outcomes.dropped == {"unknown_ref": 2}  # asked twice: one retry


@pytest.mark.parametrize(
    ("alias", "outcome", "seconds"),
    [
        ("tip-generator-invalid-json", "invalid_json", 10.0),
        ("tip-generator-slow", "timeout", 1.0),
        # Room for a loaded machine: an error must not become a timeout.
        ("tip-generator-error", "error", 10.0),
    ],
)
async def test_every_failure_serves_the_rules_and_is_counted(
    litellm_proxy: Proxy, alias: str, outcome: str, seconds: float
) -> None:
    engine, response = await generate_with(litellm_proxy, alias, seconds=seconds)
    assert response["llm"] == f"fallback:{outcome}"
    assert response["candidates"] == [c.model_dump(mode="json") for c in generate(context())]  # the rules serve
    assert engine.llm is not None
    assert engine.llm.outcomes.counts == {outcome: 1}


async def test_the_sidecar_counts_llm_outcomes_in_metrics(litellm_proxy: Proxy) -> None:
    generator = LlmTipGenerator(litellm_proxy.url, api_key=litellm_proxy.key, timeout=10.0, alias="tip-generator-error")
    app = create_ml_app(MlEngine(llm=generator))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ml") as client:
        body = GenerateRequest(context=context(), llm=True).model_dump(mode="json")
        assert (await client.post("/generate", json=body)).json()["llm"] == "fallback:error"
        metrics = (await client.get("/metrics")).text
    assert 'oo_ml_llm_generations_total{outcome="error"} 1.0' in metrics


def test_validation_refuses_shaming_and_invented_numbers() -> None:
    ctx = context()
    kind = {"kind": "advice", "ref_id": None}
    assert problem_with(LlmTip(**kind, text="You are behind on everything.", why="a nudge"), ctx) == "shaming"
    assert problem_with(LlmTip(**kind, text="Take a 40-minute walk.", why="you have time"), ctx) == "unsupported_fact"
    assert problem_with(LlmTip(**kind, text="Use your 25-minute gap.", why="before the next block"), ctx) is None
    sam = {"kind": "todo", "ref_id": "t1", "text": "Reply to Sam."}  # t1 is due in 30 hours
    assert problem_with(LlmTip(**sam, why="due tomorrow"), ctx) is None
    assert problem_with(LlmTip(**sam, why="due today"), ctx) == "unsupported_fact"
    todo = LlmTip(kind="todo", text="Do something.", why="why not", ref_id=None)
    assert problem_with(todo, ctx) == "todo_without_ref"


async def test_without_llm_true_the_generator_is_never_asked() -> None:
    generator = LlmTipGenerator("http://127.0.0.1:9", timeout=0.5)  # nothing listens there
    response = await MlEngine(llm=generator).generate(GenerateRequest(context=context()))
    assert response.llm == "off"
    assert response.candidates
    assert generator.outcomes.counts == {}


def test_cached_llm_tips_drop_when_stale_recently_shown_or_like_a_dismissed_one() -> None:
    state = busy_day_state()
    ctx = context_of(state)
    water = to_candidate(LlmTip(kind="advice", text="Drink a glass of water, slowly.", why="a small reset"), ctx)
    sam = to_candidate(LlmTip(kind="todo", text="Send Sam a short answer.", why="due tomorrow", ref_id="t1"), ctx)
    gone = to_candidate(LlmTip(kind="todo", text="Renew the passport.", why="waiting", ref_id="t2"), ctx)
    rules = generate(ctx)
    assert {c.text for c in merge_cached(ctx, rules, [water, sam, gone]) if c.source == "llm"} == {
        water.text,
        sam.text,
        gone.text,
    }

    state.apply(event("integrations.task_completed.v1", {"task_id": "t2"}))
    dismissed = {"decision_id": str(uuid.uuid4()), "candidate_id": "advice:x", "kind": "advice", "source": "advice"}
    fingerprint = text_fingerprint("Slowly drink a glass of water.")
    state.apply(
        event(
            "recommender.tip_reacted.v1",
            {**dismissed, "reaction": "dismiss", "local_hour": 12, "fingerprint": fingerprint},
        )
    )
    state.apply(
        event(
            "recommender.tip_shown.v1",
            {
                "decision_id": str(uuid.uuid4()),
                "candidate_id": sam.candidate_id,
                "kind": "todo",
                "source": "llm",
                "local_hour": 12,
            },
        )
    )
    ctx = context_of(state, NOON + timedelta(hours=1))
    assert [c for c in merge_cached(ctx, generate(ctx), [water, sam, gone]) if c.source == "llm"] == []
    later = context_of(state, NOON + timedelta(hours=25))
    assert [c.text for c in merge_cached(later, generate(later), [water, sam, gone]) if c.source == "llm"] == [sam.text]


def test_oo_ml_eval_scores_generated_tips_with_the_judge(litellm_proxy: Proxy) -> None:
    env = {**os.environ, "LITELLM_URL": litellm_proxy.url, "LITELLM_API_KEY": litellm_proxy.key}
    done = subprocess.run(
        [sys.executable, "-m", "services", "ml", "eval", "--people", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "3 synthetic people" in done.stdout
    assert "relevance      mean 4.00" in done.stdout
    assert "tone           mean 5.00" in done.stdout
    assert "fits the free minutes" in done.stdout


def test_oo_ml_eval_asks_the_configured_tip_generator(litellm_proxy: Proxy) -> None:
    env = {
        **os.environ,
        "LITELLM_URL": litellm_proxy.url,
        "LITELLM_API_KEY": litellm_proxy.key,
        "OO_LLM_TIP_GENERATOR_ALIAS": "tip-generator-error",
    }
    done = subprocess.run(
        [sys.executable, "-m", "services", "ml", "eval", "--people", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "2 synthetic people, 0 tips judged" in done.stdout
    assert "generation fell back to rules: {'error': 2}" in done.stdout


def test_oo_ml_eval_without_a_proxy_says_what_is_missing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITELLM_")}
    done = subprocess.run(
        [sys.executable, "-m", "services", "ml", "eval"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "LITELLM_URL" in done.stderr


async def test_near_duplicates_collapse_by_the_embedder_when_the_proxy_has_one(litellm_proxy: Proxy) -> None:
    client = openai.AsyncOpenAI(base_url=litellm_proxy.url, api_key=litellm_proxy.key, max_retries=0)
    ctx = context()
    first = to_candidate(LlmTip(kind="advice", text="Stand up and stretch.", why="a small reset"), ctx)
    second = to_candidate(LlmTip(kind="advice", text="Drink some water.", why="a small reset"), ctx)
    # One vector for every text: all near-duplicates.
    assert await collapse(client, [first, second], [], embedder=SAME_VECTOR_EMBEDDER) == ([first], "embedder")
    # The default `embedder` alias is not on this proxy: word overlap decides, and these share few words.
    assert await collapse(client, [first, second], []) == ([first, second], "lexical")
    await client.close()


async def test_json_mode_for_servers_without_structured_outputs(litellm_proxy: Proxy) -> None:
    proxy = litellm_proxy
    generator = LlmTipGenerator(proxy.url, api_key=proxy.key, timeout=10.0, json_mode="json_object")
    candidates = await generator.generate(context())
    assert [c.text for c in candidates] == [WALK["text"], SAM["text"]]
    await generator.aclose()


async def test_new_llm_tips_too_close_to_a_dismissed_one_are_dropped(litellm_proxy: Proxy) -> None:
    proxy = litellm_proxy  # at the default `embedder` alias, which this proxy lacks: word overlap decides
    generator = LlmTipGenerator(proxy.url, api_key=proxy.key, timeout=10.0)
    candidates = await generator.generate(context(), avoid=["Stand up and stretch, just for a minute."])
    assert [c.text for c in candidates] == [SAM["text"]]
    await generator.aclose()


async def test_the_sidecar_path_generates_with_the_llm_too(litellm_proxy: Proxy) -> None:
    proxy = litellm_proxy
    app = create_ml_app(MlEngine(llm=LlmTipGenerator(proxy.url, api_key=proxy.key, timeout=10.0)))
    ml = HttpMl("http://ml", timeout=0.5, llm_timeout=10.0, transport=httpx.ASGITransport(app=app))
    response = await ml.generate(GenerateRequest(context=context(), llm=True))
    assert (response.llm, [c.source for c in response.candidates]) == ("ok", ["llm", "llm"])
    await ml.aclose()


async def test_the_aliases_oo_asks_for_are_settings(litellm_proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_URL", litellm_proxy.url)
    monkeypatch.setenv("LITELLM_API_KEY", litellm_proxy.key)
    monkeypatch.setenv("OO_LLM_TIP_GENERATOR_ALIAS", "tip-generator-half-hallucinated")
    monkeypatch.setenv("OO_LLM_EMBEDDER_ALIAS", SAME_VECTOR_EMBEDDER)
    engine = MlEngine(llm=LlmSettings().generator())
    response = await engine.generate(GenerateRequest(context=context(), llm=True))
    # Sam's tip survives validation, then the one-vector embedder finds it a duplicate of the rules'.
    assert response.llm == "fallback:nothing_valid"
    assert engine.llm is not None
    assert (engine.llm.outcomes.dropped, engine.llm.outcomes.dedup) == ({"unknown_ref": 2}, {"embedder": 2})


def test_a_provider_task_reaches_the_model_as_a_slot_and_a_tip_may_quote_only_known_slots() -> None:
    state = busy_day_state()
    state.apply(
        event(
            "integrations.task_synced.v1",
            {"provider": "todoist", "task_id": "todoist:6X7rM8997g3RQmvh", "priority": 4, "estimated_minutes": 15},
        )
    )
    ctx = context_of(state)
    [synced] = [t for t in ctx.facts.tasks if t.task_id == "todoist:6X7rM8997g3RQmvh"]
    assert synced.title == title_slot("todoist:6X7rM8997g3RQmvh")  # the model never reads the words
    assert synced.title in str(prompt_context(ctx))
    quoted = {"kind": "todo", "ref_id": "todoist:6X7rM8997g3RQmvh", "why": "15 minutes, and it matters"}
    assert problem_with(LlmTip(**quoted, text=f"Start {synced.title} now."), ctx) is None
    # The digits of an id are no number a tip may state, and a slot must name a task the person has.
    assert problem_with(LlmTip(**quoted, text=f"Give {synced.title} 8997 seconds."), ctx) == "unsupported_fact"
    other = title_slot("todoist:someone-elses")
    assert problem_with(LlmTip(**quoted, text=f"Start {other} now."), ctx) == "unknown_ref"
