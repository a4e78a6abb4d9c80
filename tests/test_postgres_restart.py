"""Postgres restarted under load, against a real `oo serve`: while it is away every request gets 503
`storage_unavailable` (never a 500), `/ready` says so, and once it is back the api serves again by
itself, with every event it acknowledged stored and none stored twice."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import empty_postgres_url
from tests.events_factory import checkin
from tests.oo_cli import oo_ok
from tests.postgres_cluster import PostgresCluster, free_port
from tests.test_processes import _env, running

CLIENTS = 4
SEEN_WHILE_DOWN = 40  # answers to collect while Postgres is stopped
RECOVERY_STREAK = 20  # consecutive successes that show the api serves again


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own: it is stopped and started under the api."""
    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class Load:
    """Clients asking for tips and posting check-ins (each with a fresh id) until told to stop."""

    base: str
    headers: dict[str, str]
    phase: str = "before"
    statuses: dict[str, Counter[tuple[str, int]]] = field(default_factory=dict)
    acknowledged: list[dict] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)
    streak: int = 0
    stopping: bool = False

    def count(self, phase: str, route: str, status: int) -> None:
        """Counted under the phase in which the request was sent."""
        self.statuses.setdefault(phase, Counter())[(route, status)] += 1
        self.streak = self.streak + 1 if status == 200 else 0

    def seen(self, phase: str) -> int:
        return sum(self.statuses.get(phase, Counter()).values())

    async def client(self, number: int) -> None:
        async with httpx.AsyncClient(base_url=self.base, headers=self.headers, timeout=30) as http:
            for turn in itertools.count():
                if self.stopping:
                    return
                phase = self.phase
                if (turn + number) % 2:
                    event = checkin(energy=1 + turn % 5)
                    answer = await http.post("/v1/events", json={"events": [event]})
                    self.count(phase, "events", answer.status_code)
                    (self.acknowledged if answer.status_code == 200 else self.refused).append(event)
                else:
                    answer = await http.post("/v1/recommend", json={})
                    self.count(phase, "recommend", answer.status_code)
                if answer.status_code == 503:
                    assert answer.json()["error"]["code"] == "storage_unavailable"
                    assert answer.headers["retry-after"] == "1"
                    await asyncio.sleep(0.02)  # a client backs off a little before it retries


async def until(condition, what: str, seen=lambda: None, seconds: float = 120) -> None:
    """Poll `condition` (the bound only catches a server that never gets there)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, f"timed out waiting until {what}; seen: {seen()}"
        await asyncio.sleep(0.05)


async def test_postgres_restarted_under_load_gives_503s_then_recovers_by_itself(
    tmp_path: Path, own_cluster: PostgresCluster
) -> None:
    database_url = await empty_postgres_url(own_cluster)
    env = _env(tmp_path / "data", DATABASE_URL=database_url, OO_LOCAL_MODE="false", OO_LOG_LEVEL="WARNING")
    oo_ok(env, "db", "upgrade")
    user_id = oo_ok(env, "users", "create")
    oo_ok(env, "consents", "grant", user_id, "core")
    token = oo_ok(env, "tokens", "issue", "--user", user_id)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(env, "serve", "--port", str(port), url=f"{base}/ready"):
        load = Load(base, {"Authorization": f"Bearer {token}"})
        clients = [asyncio.create_task(load.client(n)) for n in range(CLIENTS)]
        try:
            await until(lambda: load.seen("before") >= 40, "the api served under load")
            await asyncio.to_thread(own_cluster.pause)
            load.phase = "down"
            await until(lambda: load.seen("down") >= SEEN_WHILE_DOWN, "answers came while Postgres was away")
            async with httpx.AsyncClient(base_url=base) as http:
                ready = await http.get("/ready")
            assert ready.status_code == 503
            load.phase = "starting"  # what is sent while it starts may or may not be served
            await asyncio.to_thread(own_cluster.resume)
            load.phase = "after"
            await until(lambda: load.streak >= RECOVERY_STREAK, "the api served again by itself", lambda: load.statuses)
        finally:
            load.stopping = True
            await asyncio.gather(*clients)

        async with httpx.AsyncClient(base_url=base, headers=load.headers, timeout=30) as http:
            assert (await http.get("/ready")).status_code == 200
            down = load.statuses["down"]
            # While it is away, nothing succeeds and nothing fails otherwise than as unavailable.
            assert {status for _, status in down} == {503}, down
            every = sum((load.statuses[phase] for phase in load.statuses), Counter())
            assert {status for _, status in every} <= {200, 503}, every
            # A client retries what it was refused, with the same ids; then each event is stored once.
            for event in load.refused:
                assert (await http.post("/v1/events", json={"events": [event]})).status_code == 200
            exported = (await http.get("/v1/me/export")).json()["events"]["events"]
    stored = Counter(e["id"] for e in exported if e["type"] == checkin()["type"])
    posted = {e["id"] for e in load.acknowledged + load.refused}
    assert set(stored) == posted
    assert set(stored.values()) == {1}
    assert load.refused, "no check-in was refused: Postgres was never seen away"
    assert all(uuid.UUID(e["id"]) for e in load.refused)
