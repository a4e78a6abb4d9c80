"""The relay under faults, with real processes: a real `oo worker`, a real nats-server, SQLite and Postgres.

(a) nats-server stopped for 30 s while events keep arriving: nothing is lost, all is relayed once it is
    back.
(b) the worker SIGKILLed mid-relay, then started again: every event reaches a consumer exactly once
    (dedup by id) and every row is marked published.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import nats
import pytest

from oo_contracts.events import EventEnvelope
from services.bootstrap import Container, bootstrap
from services.events.tail import EventTail
from tests.conftest import empty_postgres_url, make_settings
from tests.nats_server import NatsServer
from tests.postgres_cluster import free_port
from tests.test_processes import _env as process_env
from tests.test_processes import running
from tests.test_relay import envelope, store, unpublished

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgres"])
NATS_AWAY_SECONDS = 30  # an operator's restart of the server, or a network partition


async def until(condition: Callable[[], Awaitable[bool]], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.02)


async def ingesting_container(env: dict[str, str]) -> Container:
    """The test's own view of the worker's database, where it writes events as the api would."""
    container = bootstrap(make_settings(Path(env["OO_DATA_DIR"]), env.get("DATABASE_URL")))
    await container.prepare_storage()
    return container


async def consumed(url: str, durable: str) -> list[EventEnvelope]:
    """Everything in the stream, as a consumer deduplicating by event id applies it."""
    applied: list[EventEnvelope] = []

    async def apply(event: EventEnvelope) -> None:
        applied.append(event)

    client = await nats.connect(url)
    try:
        js = client.jetstream()
        tail = EventTail(js, durable, apply)
        deadline = time.monotonic() + 120
        while True:
            await tail.pull(batch=500, wait_seconds=0.2)
            info = await (await tail.subscription()).consumer_info()
            if info.num_pending == 0 and info.num_ack_pending == 0:
                break
            assert time.monotonic() < deadline, "the consumer did not reach the end of the stream"
    finally:
        await client.close()
    return applied


async def worker_env(tmp_path: Path, backend: str, request: pytest.FixtureRequest, nats_url: str) -> dict[str, str]:
    env = process_env(tmp_path / "data")
    if backend == "postgres":
        env["DATABASE_URL"] = await empty_postgres_url(request.getfixturevalue("postgres_cluster"))
    return {**env, "NATS_URL": nats_url, "OO_RELAY_IDLE_MAX_SECONDS": "0.2"}


async def test_nats_away_under_ingest_loses_nothing(tmp_path, backend, request, nats_server: NatsServer, nats_url):
    env = await worker_env(tmp_path, backend, request, nats_url)
    container = await ingesting_container(env)
    events: list[EventEnvelope] = []
    port = free_port()
    try:
        with running(env, "worker", "--port", str(port), url=f"http://127.0.0.1:{port}/ready"):
            first = [envelope(f"usr_{i % 5}") for i in range(200)]
            await store(container, first)
            events += first

            async def nothing_waits() -> bool:
                return await unpublished(container) == 0

            await until(nothing_waits, "the first events relayed")

            nats_server.stop()
            # Ingestion goes on while NATS is away, as long as an operator's restart may take: the
            # worker's client keeps reconnecting and the relay keeps its place.
            away = time.monotonic()
            batches = 0
            while time.monotonic() - away < NATS_AWAY_SECONDS:
                batch = [envelope(f"usr_{i % 5}") for i in range(100)]
                await store(container, batch)
                events += batch
                batches += 1
                await asyncio.sleep(1)
            assert await unpublished(container) == 100 * batches  # no PubAck can come, so nothing is marked

            async def lag_reported() -> bool:
                async with httpx.AsyncClient() as client:
                    metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                line = next(x for x in metrics.splitlines() if x.startswith("oo_relay_lag_seconds "))
                return float(line.split()[1]) > 0

            await until(lag_reported, "the worker's /metrics to show the relay's lag")

            nats_server.start()  # the same port and store, as after an operator's restart
            await until(nothing_waits, "everything relayed once NATS is back")
    finally:
        await container.close()

    applied = await consumed(nats_url, "fault-a")
    assert sorted(str(e.id) for e in applied) == sorted(str(e.id) for e in events)


async def test_a_worker_killed_mid_relay_leaves_every_event_in_the_stream_once(
    tmp_path, backend, request, nats_server: NatsServer, nats_url
):
    env = {**await worker_env(tmp_path, backend, request, nats_url), "OO_RELAY_BATCH_SIZE": "100"}
    container = await ingesting_container(env)
    total = 20_000
    events = [envelope(f"usr_{i % 11}") for i in range(total)]
    for start in range(0, total, 2000):
        await store(container, events[start : start + 2000])
    try:
        port = free_port()
        with running(env, "worker", "--port", str(port), url=f"http://127.0.0.1:{port}/ready") as worker:

            async def some_relayed() -> bool:
                return await unpublished(container) <= total - 500

            await until(some_relayed, "the relay under way")
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=15)
        left = await unpublished(container)
        assert 0 < left < total, "the worker was not killed mid-relay"

        port = free_port()
        with running(env, "worker", "--port", str(port), url=f"http://127.0.0.1:{port}/ready"):

            async def nothing_waits() -> bool:
                return await unpublished(container) == 0

            await until(nothing_waits, "everything relayed by the restarted worker")
    finally:
        await container.close()

    applied = await consumed(nats_url, "fault-b")
    assert len(applied) == total
    assert {e.id for e in applied} == {e.id for e in events}
