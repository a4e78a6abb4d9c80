"""The ML port passes the same contract in process and over HTTP; and the two processes run for real."""

from __future__ import annotations

import httpx
import pytest

from ml.experiments.product import PRODUCT_POLICY
from ml.serving.app import create_ml_app
from ml.serving.engine import MlEngine
from oo_contracts.knowledge import LearnedRequest, ReactionCount
from oo_contracts.recommendation import FeedbackUpdate, GenerateRequest, RankRequest, TipCandidate
from services.recommender.api import HttpMl
from tests.ml_factory import busy_day_state, context_of
from tests.postgres_cluster import free_port
from tests.test_processes import _env, oo, running
from tests.test_recommender import person_with_a_day


@pytest.fixture(params=["in_process", "http"])
def ml_port(request):
    if request.param == "in_process":
        return MlEngine()
    return HttpMl("http://ml", timeout=5, transport=httpx.ASGITransport(app=create_ml_app()))


async def test_generate_rank_feedback_contract(ml_port):
    context = context_of(busy_day_state())
    candidates = (await ml_port.generate(GenerateRequest(context=context))).candidates
    assert {c.source for c in candidates} >= {"energy_match", "amnesty", "habit"}

    ranked = await ml_port.rank(RankRequest(context=context, candidates=candidates, seed=11))
    assert ranked.chosen in {c.candidate_id for c in candidates}  # this seed draws a tip, not silence
    assert 0 < ranked.propensity <= 1
    assert ranked.policy_version == "lin-ts-v2"

    updated = await ml_port.feedback(FeedbackUpdate(context=context, candidate=candidates[0], reward=1.0))
    assert updated.policy_state["n"] == 1


async def test_both_paths_decide_identically_for_the_same_seed():
    context = context_of(busy_day_state())
    local = MlEngine()
    remote = HttpMl("http://ml", timeout=5, transport=httpx.ASGITransport(app=create_ml_app()))
    candidates = (await local.generate(GenerateRequest(context=context))).candidates
    assert candidates == (await remote.generate(GenerateRequest(context=context))).candidates
    for seed in range(10):
        request = RankRequest(context=context, candidates=candidates, seed=seed)
        assert await local.rank(request) == await remote.rank(request)


def test_the_api_reaches_a_real_ml_process_over_http(tmp_path):
    import asyncio

    env = _env(tmp_path / "data")
    ml_port, api_port = free_port(), free_port()
    ml_url = f"http://127.0.0.1:{ml_port}"
    with running(env, "ml", "serve", "--port", str(ml_port), url=f"{ml_url}/ready"):
        api_env = {**env, "OO_ML_URL": ml_url}
        base = f"http://127.0.0.1:{api_port}"
        with running(api_env, "serve", "--port", str(api_port), url=f"{base}/ready"):
            user_id = oo(api_env, "users", "create")
            token = oo(api_env, "tokens", "issue", "--user", user_id)

            async def journey() -> None:
                async with httpx.AsyncClient(base_url=base) as client:
                    await person_with_a_day(client, token)
                    response = await client.post("/v1/recommend", headers={"Authorization": f"Bearer {token}"})
                    assert response.status_code == 200, response.text

            asyncio.run(journey())
            calls = httpx.get(f"{ml_url}/metrics").text
            assert 'oo_ml_calls_total{endpoint="rank"} 1.0' in calls


async def test_an_unreachable_ml_sidecar_is_a_503_not_a_500(container):
    from services.app import create_app
    from tests.conftest import LOOPBACK, bearer, new_user_with_token

    container.recommender.service._ml = HttpMl(f"http://127.0.0.1:{free_port()}", timeout=1)
    app = create_app(container=container)
    _, token = await new_user_with_token(container)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
        response = await client.post("/v1/recommend", headers=bearer(token))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ml_unavailable"


async def test_a_state_another_policy_version_left_starts_over_from_the_prior(ml_port):
    context = context_of(busy_day_state())
    candidates = (await ml_port.generate(GenerateRequest(context=context))).candidates
    old = {"version": "lin-ts-v1", "n": 3, "cov": "AAAA", "b": "AAAA"}  # another shape entirely
    ranked = await ml_port.rank(RankRequest(context=context, candidates=candidates, policy_state=old, seed=11))
    assert ranked.policy_version == "lin-ts-v2"
    learned = await ml_port.feedback(
        FeedbackUpdate(context=context, candidate=candidates[0], reward=1.0, policy_state=old)
    )
    assert (learned.policy_state["version"], learned.policy_state["n"]) == ("lin-ts-v2", 1)


async def test_learned_contract(ml_port):
    """What the policy learned reads the same in process and over HTTP."""
    context = context_of(busy_day_state())
    candidate = TipCandidate(candidate_id="advice:a", kind="advice", text="t", why="", source="advice", features={})
    state = PRODUCT_POLICY.initial_state()
    for _ in range(8):
        state = PRODUCT_POLICY.update(state, context, candidate, 1.0)
    reactions = [ReactionCount(source="advice", kind="advice", local_hour=12, done=8)]
    answer = await ml_port.learned(LearnedRequest(policy_state=state, reactions=reactions))
    assert [s.text for s in answer.sentences] == ["You tend to act on advice"]
    nothing = await ml_port.learned(LearnedRequest(policy_state=None, reactions=reactions))
    assert nothing.sentences == []
