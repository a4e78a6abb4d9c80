"""The production topology as one command (`oo topology`): two api processes with their jobs off, the
worker and the ML sidecar, on Postgres and NATS — and a person's whole journey through it, each step
answered by another process than the one before."""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import pytest

from tests.conftest import empty_postgres_url
from tests.events_factory import daytime_zone
from tests.litellm_proxy import SAM, WALK, Proxy
from tests.nats_server import stream_counts
from tests.test_admin_events import read_until
from tests.test_processes import OO, _env, oo, running
from tests.test_relay_faults import consumed

pytestmark = pytest.mark.postgres

T = TypeVar("T")
DEADLINE_SECONDS = 120  # readiness is polled; the bound only catches what will never happen


def signal(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return {"id": str(uuid.uuid4()), "type": event_type, "occurred_at": at, "payload": payload}


def eventually(ask: Callable[[], T | None], what: str) -> T:
    """`ask()` until it returns something truthy, which is returned."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not (answer := ask()):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)
    return answer


def test_oo_topology_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    refused = _run(env, "topology")
    assert (refused.returncode, refused.stderr.strip()) == (
        2,
        "oo: the topology shares one Postgres: set DATABASE_URL=postgresql://… (--database-url)",
    )
    no_nats = _run({**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/oo"}, "topology")
    assert (no_nats.returncode, no_nats.stderr.strip()) == (
        2,
        "oo: the worker relays to NATS JetStream: set NATS_URL=nats://… (--nats-url)",
    )


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OO, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


async def test_a_persons_journey_through_the_whole_topology(
    tmp_path: Path, request: pytest.FixtureRequest, nats_url: str, litellm_proxy: Proxy
) -> None:
    database_url = await empty_postgres_url(request.getfixturevalue("postgres_cluster"))
    env = _env(
        tmp_path / "data",
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        LITELLM_URL=litellm_proxy.url,
        LITELLM_API_KEY=litellm_proxy.key,
        OO_LOCAL_MODE="false",
        OO_LOG_LEVEL="WARNING",
    )
    await asyncio.to_thread(_journey, env, nats_url)


def _journey(env: dict[str, str], nats_url: str) -> None:
    # Four consecutive ports below the kernel's ephemeral range (32768 and up), where no other test's
    # free_port() can take one between this check and the processes binding them.
    first = random.randrange(20_000, 32_000, 4)
    while any(_taken(port) for port in range(first, first + 4)):
        first = random.randrange(20_000, 32_000, 4)
    api_1, api_2, worker, ml = (f"http://127.0.0.1:{first + n}" for n in range(4))
    # The last member started is the second api: once it is ready, every one is.
    with running(env, "topology", "--port", str(first), url=f"{api_2}/ready"):
        for member in (api_1, api_2, worker, ml):
            assert httpx.get(f"{member}/ready", timeout=5).status_code == 200
        user_id = oo(env, "users", "create")
        oo(env, "consents", "grant", user_id, "core", "llm")
        auth = {"Authorization": f"Bearer {oo(env, 'tokens', 'issue', '--user', user_id)}"}
        one = httpx.Client(base_url=api_1, headers=auth, timeout=30)
        two = httpx.Client(base_url=api_2, headers=auth, timeout=30)

        # Signals go in at one api ...
        sam = {"task_id": "t1", "title": "Reply to Sam", "estimated_minutes": 10, "priority": 3}
        due = (datetime.now(UTC) + timedelta(hours=30)).isoformat()
        day = [
            signal("recommender.context_observed.v1", {"timezone": daytime_zone(), "device_class": "phone"}),
            signal("profile.checkin_recorded.v1", {"energy": 4, "mood": 4}),
            signal("integrations.task_added.v1", {**sam, "due": due}),
        ]
        assert one.post("/v1/events", json={"events": day}).status_code == 200

        # ... the LLM refresh they call for is deferred there and run by the worker, through the sidecar ...
        # (The consents granted above are signals too: a refresh may have run before the day arrived,
        # without the task its second tip is about; the one the day called for follows.)
        def cached() -> list[str] | None:
            cache = two.get("/v1/me/export").json()["recommender"]["llm_cache"]
            texts = [c["text"] for c in cache["candidates"]] if cache and cache["outcome"] == "ok" else []
            return texts if SAM["text"] in texts else None

        assert eventually(cached, "the worker refreshed the LLM candidates") == [WALK["text"], SAM["text"]]
        # The worker asked the sidecar (its ML is over HTTP): the generation is counted there.
        generated = re.search(
            r'^oo_ml_calls_total\{endpoint="generate"\} (\d+)\.0$', httpx.get(f"{ml}/metrics").text, re.M
        )
        assert generated is not None
        assert int(generated[1]) >= 1

        # ... the other api decides, and the first records the reaction.
        def a_tip() -> dict[str, Any] | None:
            answer = two.post("/v1/recommend", json={})
            assert answer.status_code == 200, answer.text
            if answer.json()["tip"] is None:  # a silence holds until a new signal: give one
                checkin = signal("profile.checkin_recorded.v1", {"energy": 4, "mood": 4})
                assert one.post("/v1/events", json={"events": [checkin]}).status_code == 200
                return None
            tip: dict[str, Any] = answer.json()
            return tip

        shown = eventually(a_tip, "a tip was shown")
        reacted = one.post("/v1/feedback", json={"decision_id": shown["decision_id"], "reaction": "done"})
        assert reacted.status_code == 200, reacted.text

        # Every event of the person reaches JetStream through the worker's relay, once.
        stored = {e["id"] for e in two.get("/v1/me/export").json()["events"]["events"]}

        def relayed() -> bool:
            durable = f"journey-{uuid.uuid4().hex[:8]}"
            mirrored = [str(e.id) for e in asyncio.run(consumed(nats_url, durable)) if e.user_id == user_id]
            assert len(mirrored) == len(set(mirrored)), "an event was relayed twice"
            return set(mirrored) == stored

        eventually(relayed, "the worker relayed every event")

        # An admin watching through one api sees, live, what the other stored: the viewer reads the mirror.
        oo(env, "users", "role", user_id, "admin")
        later = signal("integrations.task_added.v1", {**sam, "task_id": "t2"})
        with one.stream("GET", "/v1/admin/events/stream", params={"user_id": user_id}) as watching:
            assert watching.status_code == 200
            assert two.post("/v1/events", json={"events": [later]}).status_code == 200
            seen = read_until(watching.iter_lines(), later["id"], time.monotonic() + DEADLINE_SECONDS)
        assert {e["user_id"] for e in seen} == {user_id}
        assert "Reply to Sam" not in json.dumps(seen)
        recent = one.get("/v1/admin/events", params={"user_id": user_id, "limit": 1}).json()
        assert [e["id"] for e in recent] == [later["id"]]

        # Deleting the account at one api ends the person everywhere, their messages in the stream too.
        receipt = two.delete("/v1/me").json()["receipt_id"]
        eventually(
            lambda: httpx.get(f"{api_1}/v1/deletion-receipts/{receipt}").json()["status"] == "completed",
            "the deletion completed",
        )
        assert one.get("/v1/me").status_code == 401
        assert asyncio.run(_messages_of(nats_url, user_id)) == {}


async def _messages_of(url: str, user_id: str) -> dict[str, int]:
    client = await nats.connect(url)
    try:
        return await stream_counts(client.jetstream(), f"oo.user.{user_id}.>")
    finally:
        await client.close()


def _taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
