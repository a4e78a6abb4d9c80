"""Durable jobs with real `oo worker` processes on Postgres (ADR 0032): an api with its jobs off defers,
a worker started later runs; a worker SIGKILLed mid-job leaves the job to another; two workers never run
one person's jobs at once, and run two people's side by side. The LLM refresh is the job under test,
against the session's LiteLLM proxy (its slow alias answers after 5 s)."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest
from sqlalchemy import text

from oo_contracts.jobs import JobKind, PersonJob
from services.app import create_app
from services.bootstrap import Container, bootstrap
from services.settings import JobsSettings
from tests.conftest import LOOPBACK, empty_postgres_url, make_settings, new_user_with_token
from tests.litellm_proxy import Proxy
from tests.postgres_cluster import free_port
from tests.test_llm_refresh import a_day_with_sam
from tests.test_processes import OO, running
from tests.test_processes import _env as process_env
from tests.test_relay_faults import until

pytestmark = pytest.mark.postgres


def llm_env(proxy: Proxy, alias: str) -> dict[str, str]:
    return {
        "LITELLM_URL": proxy.url,
        "LITELLM_API_KEY": proxy.key,
        "OO_LLM_TIP_GENERATOR_ALIAS": alias,
        "OO_LLM_TIMEOUT_SECONDS": "30",
        "OO_LOCAL_MODE": "true",
        "OO_JOBS_HEARTBEAT_SECONDS": "0.5",
        "OO_JOBS_STALLED_SECONDS": "3",
        "OO_JOBS_STALLED_CHECK_SECONDS": "1",
    }


async def worker_env(tmp_path: Path, request: pytest.FixtureRequest, proxy: Proxy, alias: str) -> dict[str, str]:
    env = process_env(tmp_path / "data", **llm_env(proxy, alias))
    env["DATABASE_URL"] = await empty_postgres_url(request.getfixturevalue("postgres_cluster"))
    return env


@asynccontextmanager
async def api_without_jobs(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    """The api as `oo serve --no-jobs` runs it, in this process: it defers into Postgres, runs nothing."""
    for name, value in env.items():
        if name.startswith(("LITELLM", "OO_LLM")):
            monkeypatch.setenv(name, value)
    settings = make_settings(Path(env["OO_DATA_DIR"]), env["DATABASE_URL"], local_mode=True)
    settings = dataclasses.replace(settings, jobs=JobsSettings(embedded_jobs=False))
    container = bootstrap(settings)
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
            yield container, client


async def scalar(container: Container, query: str, **params: object) -> Any:
    async with container.database.transaction(write=False) as uow:
        return (await uow.connection.execute(text(query), params)).scalar_one()


async def jobs_of(container: Container, user_id: str, status: str | None = None) -> int:
    query = "SELECT count(*) FROM procrastinate_jobs WHERE args->>'user_id' = :user_id"
    if status is not None:
        query += " AND status = :status"
    return int(await scalar(container, query, user_id=user_id, status=status))


async def cache_rows(container: Container, user_id: str) -> int:
    query = "SELECT count(*) FROM recommender_llm_cache WHERE user_id = :user_id AND outcome = 'ok'"
    return int(await scalar(container, query, user_id=user_id))


def _ready(port: int) -> str:
    return f"http://127.0.0.1:{port}/ready"


async def test_an_api_with_its_jobs_off_defers_and_a_worker_started_later_runs_them(
    tmp_path, request, monkeypatch, litellm_proxy
):
    env = await worker_env(tmp_path, request, litellm_proxy, "tip-generator")
    async with api_without_jobs(env, monkeypatch) as (container, client):
        user_id, token = await new_user_with_token(container)
        await a_day_with_sam(client, token)
        assert await jobs_of(container, user_id, "todo") == 1  # deferred, and nothing here runs it
        assert await cache_rows(container, user_id) == 0

        port = free_port()
        with running(env, "worker", "--port", str(port), url=_ready(port)):

            async def refreshed() -> bool:
                return await cache_rows(container, user_id) == 1

            await until(refreshed, "the worker to run the LLM refresh the api deferred")

            async def finished_and_gone() -> bool:
                return await jobs_of(container, user_id) == 0

            await until(finished_and_gone, "the finished job's row deleted")


async def test_a_worker_killed_mid_job_leaves_it_to_another_that_finishes_it_once(
    tmp_path, request, monkeypatch, litellm_proxy
):
    env = await worker_env(tmp_path, request, litellm_proxy, "tip-generator-slow")
    async with api_without_jobs(env, monkeypatch) as (container, client):
        user_id, token = await new_user_with_token(container)
        await a_day_with_sam(client, token)
        first, second = free_port(), free_port()
        with running(env, "worker", "--port", str(first), url=_ready(first)) as doomed:

            async def running_now() -> bool:
                return await jobs_of(container, user_id, "doing") == 1

            await until(running_now, "the first worker to take the job")
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=15)
        assert await jobs_of(container, user_id, "doing") == 1  # stalled: its worker is gone
        assert await cache_rows(container, user_id) == 0

        with running(env, "worker", "--port", str(second), url=_ready(second)):

            async def done() -> bool:
                return await jobs_of(container, user_id) == 0 and await cache_rows(container, user_id) == 1

            await until(done, "the stalled job run again by the second worker")
        day = await scalar(container, "SELECT calls_on_day FROM recommender_llm_cache WHERE user_id = :u", u=user_id)
        assert day == 1  # applied once: the killed run wrote nothing


def job_spans(log: bytes) -> list[tuple[str, str, datetime, str]]:
    """(user id, kind, time, started|finished) of every job a worker's log shows."""
    spans = []
    for line in log.decode(errors="replace").splitlines():
        if '"job_started"' not in line and '"job_finished"' not in line:
            continue
        entry = json.loads(line)
        spans.append((entry["user_id"], entry["kind"], datetime.fromisoformat(entry["timestamp"]), entry["event"][4:]))
    return spans


async def test_two_workers_never_run_one_persons_jobs_at_once_and_run_two_people_side_by_side(
    tmp_path, request, monkeypatch, litellm_proxy
):
    env = await worker_env(tmp_path, request, litellm_proxy, "tip-generator-slow")
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    async with api_without_jobs(env, monkeypatch) as (container, client):
        (ann, ann_token), (bob, bob_token) = [await new_user_with_token(container) for _ in range(2)]
        await a_day_with_sam(client, ann_token)
        await a_day_with_sam(client, bob_token)
        # A second job of Ann's, of another kind, waits beside her LLM refresh.
        await container.jobs.defer(PersonJob(kind=JobKind.calendar_refresh, user_id=ann))
        ports = [free_port(), free_port()]
        with (
            logs[0].open("wb") as out0,
            logs[1].open("wb") as out1,
            _worker_process(env, ports[0], out0),
            _worker_process(env, ports[1], out1),
        ):

            async def all_done() -> bool:
                return await jobs_of(container, ann) == 0 and await jobs_of(container, bob) == 0

            await until(all_done, "every job run by the two workers")
    spans = sorted((at, who, kind, what) for log in logs for who, kind, at, what in job_spans(log.read_bytes()))
    by_person: dict[str, list[tuple[datetime, str, str]]] = {}
    for at, who, kind, what in spans:
        by_person.setdefault(who, []).append((at, kind, what))
    # Ann's two jobs one after the other: each start follows the other's finish.
    assert [what for _, _, what in by_person[ann]] == ["started", "finished", "started", "finished"]
    assert sorted(kind for _, kind, what in by_person[ann] if what == "started") == ["calendar_refresh", "llm_refresh"]
    # Ann's and Bob's LLM refreshes (5 s each) overlapped: each began before the other ended.
    ann_llm = [at for at, kind, _ in by_person[ann] if kind == "llm_refresh"]
    bob_llm = [at for at, _, _ in by_person[bob]]
    assert ann_llm[0] < bob_llm[1]
    assert bob_llm[0] < ann_llm[1]


@contextmanager
def _worker_process(env: dict[str, str], port: int, out: BinaryIO) -> Iterator[subprocess.Popen[bytes]]:
    """`oo worker` writing to `out`, once /ready answers (polled, never a fixed sleep)."""
    process = subprocess.Popen([*OO, "worker", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(_ready(port), timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the worker stopped before it was ready"
            assert time.monotonic() < deadline, "the worker did not become ready"
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=15)
