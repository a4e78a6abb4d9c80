"""Read, decide, record: no transaction is open while ML decides, and what is recorded stays right.

Two reactions learning at once both count; a held answer needs no write lock; an account deleted
while its decision was being made, or while its LLM candidates were being refreshed, gets nothing
written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from oo_contracts.identity import Principal
from oo_contracts.recommendation import (
    FeedbackRequest,
    FeedbackUpdate,
    GenerateRequest,
    GenerateResponse,
    MlPort,
    PolicyStateResponse,
    RankRequest,
    RankResponse,
    RecommendRequest,
)
from services.app import create_app
from services.bootstrap import Container, bootstrap
from services.kernel.errors import Unauthenticated
from services.recommender.settings import RecommenderSettings
from services.recommender.tables import recommender_llm_cache
from services.settings import Settings
from tests.conftest import LOOPBACK, bearer, new_user_with_token
from tests.test_recommender import decision_row, person_with_a_day, policy_row


class GatedMl:
    """The real engine behind a gate: each call waits until `release` is set, as a slow sidecar would."""

    def __init__(self, engine: MlPort, *, gate: str, callers: int = 1) -> None:
        self._engine = engine
        self._gate = gate
        self._callers = callers
        self._waiting = 0
        self.release = asyncio.Event()
        self.reached = asyncio.Event()  # every expected caller is waiting at the gate

    async def _wait(self, name: str) -> None:
        if name == self._gate:
            self._waiting += 1
            if self._waiting == self._callers:
                self.reached.set()
            await self.release.wait()

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        await self._wait("generate")
        return await self._engine.generate(request)

    async def rank(self, request: RankRequest) -> RankResponse:
        return await self._engine.rank(request)

    async def feedback(self, request: FeedbackUpdate) -> PolicyStateResponse:
        await self._wait("feedback")
        return await self._engine.feedback(request)


class KnownCaller:
    """A `Caller` whose principal is already known: the use cases called directly, without HTTP."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    async def find(self, _uow: object) -> Principal:
        return self.principal

    async def make(self) -> Principal:
        return self.principal


def caller_of(user_id: str) -> KnownCaller:
    return KnownCaller(Principal(user_id=user_id, scopes=frozenset(), method="api_token"))


async def shown_tip(service, caller: KnownCaller, at: datetime):
    for minutes in range(0, 600, 31):  # a tip is held 30 minutes: past that, a new decision
        answer = await service.recommend(caller, RecommendRequest(), now=at + timedelta(minutes=minutes))
        if answer.tip is not None:
            return answer
    raise AssertionError("no tip shown")


async def test_two_reactions_learning_at_once_both_count(client, container):
    user_id, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    service = container.recommender.service
    caller = caller_of(user_id)
    now = datetime.now(UTC)
    first = await shown_tip(service, caller, now)
    second = await shown_tip(service, caller, now + timedelta(hours=11))
    assert first.decision_id != second.decision_id
    gated = GatedMl(service._ml, gate="feedback", callers=2)
    service._ml = gated

    async def react(answer):
        request = FeedbackRequest(decision_id=answer.decision_id, reaction="done")
        return await service.feedback(caller, request, now=now + timedelta(hours=12))

    both = asyncio.gather(react(first), react(second))
    await gated.reached.wait()  # both read the same policy state and are learning from it
    gated.release.set()
    await both
    assert (await policy_row(container, user_id)).observations == 2  # one learnt again from the other's
    assert (await decision_row(container, str(first.decision_id))).reaction == "done"
    assert (await decision_row(container, str(second.decision_id))).reaction == "done"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_held_tip_is_served_while_another_process_holds_the_write_lock(client, container, settings):
    user_id, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    service = container.recommender.service
    caller = caller_of(user_id)
    shown = await shown_tip(service, caller, datetime.now(UTC))
    other = sqlite3.connect(settings.core.data_dir / "oo.sqlite3", timeout=0)
    other.execute("BEGIN IMMEDIATE")  # another process (a CLI, a backup) holds SQLite's write lock
    try:
        again = await asyncio.wait_for(client.post("/v1/recommend", headers=bearer(token)), timeout=5)
    finally:
        other.rollback()
        other.close()
    assert again.status_code == 200
    assert again.json()["decision_id"] == str(shown.decision_id)


async def test_an_account_deleted_while_its_decision_is_made_gets_nothing_written(client, container):
    user_id, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    service = container.recommender.service
    gated = GatedMl(service._ml, gate="generate")
    service._ml = gated
    caller = caller_of(user_id)
    deciding = asyncio.create_task(service.recommend(caller, RecommendRequest()))
    await gated.reached.wait()  # read done, ML deciding with no transaction open
    assert (await client.delete("/v1/me", headers=bearer(token))).status_code == 202
    gated.release.set()
    with pytest.raises(Unauthenticated):
        await deciding
    async with container.database.transaction(write=False) as uow:
        rows = await container.recommender.user_data.export_user(uow, user_id)
    assert rows.decisions == []


async def test_two_asks_at_once_record_one_answer_and_both_show_it(client, container):
    user_id, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    service = container.recommender.service
    gated = GatedMl(service._ml, gate="generate", callers=2)
    service._ml = gated
    caller = caller_of(user_id)
    both = asyncio.gather(*(service.recommend(caller, RecommendRequest()) for _ in range(2)))
    await gated.reached.wait()  # both read the same snapshot: no answer on show yet
    gated.release.set()
    first, second = await both
    assert first.decision_id == second.decision_id
    async with container.database.transaction(write=False) as uow:
        decisions = await container.recommender.user_data.export_user(uow, user_id)
    assert [d.decision_id for d in decisions.decisions] == [first.decision_id]


@pytest.fixture
async def refreshing(settings: Settings) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    """oO with LLM tips on. Its engine has no LLM, so a refresh's answer is the rules' (`off`); it reads,
    asks and writes the person's cache as any refresh does."""
    container = bootstrap(dataclasses.replace(settings, recommender=RecommenderSettings(llm_tips=True)))
    await container.prepare_storage()
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
            yield container, client


async def llm_cache_rows(container: Container, user_id: str) -> list[str]:
    async with container.database.transaction(write=False) as uow:
        query = select(recommender_llm_cache.c.outcome).where(recommender_llm_cache.c.user_id == user_id)
        return list((await uow.connection.execute(query)).scalars())


async def test_an_llm_refresh_that_read_before_the_account_was_erased_writes_nothing_after(refreshing):
    container, client = refreshing
    refresher = container.recommender.llm_refresher
    assert refresher is not None
    user_id, token = await new_user_with_token(container)
    await person_with_a_day(client, token)
    await container.jobs.idle()
    assert await llm_cache_rows(container, user_id) == ["off"]  # unraced, a refresh writes the cache

    gated = GatedMl(refresher._ml, gate="generate")
    refresher._ml = gated
    refreshing_now = asyncio.create_task(refresher.refresh(user_id))
    await gated.reached.wait()  # read done, the LLM asked, no transaction open
    deleted = await client.delete("/v1/me", headers=bearer(token))
    assert deleted.status_code == 202
    receipt = await client.get(f"/v1/deletion-receipts/{deleted.json()['receipt_id']}")
    assert receipt.json()["status"] == "completed"  # erased before the refresh resumes
    assert await llm_cache_rows(container, user_id) == []
    gated.release.set()
    assert await refreshing_now == "user_gone"
    assert await llm_cache_rows(container, user_id) == []
