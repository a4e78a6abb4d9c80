"""End-to-end lag: from an event's commit to a consumer holding it, through the worker's relay.

Events are committed to `events_store` on a throwaway Postgres at a steady rate (default 5,000 events/s,
in batches of 100), each batch's commit time taken when its transaction returns; a real `oo worker`
process relays them to a throwaway nats-server; a consumer in this process (an ordered push consumer
on the events stream, the same clock) notes when each arrives. The lag of an event is its arrival
minus its commit. The baseline, in the same run and at the same rate: the same messages published
with raw nats-py `publish` (no database, no relay) to the same consumer, publish to arrival.

Target: p99 ≤ 1 s at 5,000 events/s; printed met or NOT met, with every event arriving exactly once.

    uv run python -m bench.lag [--rate 5000] [--seconds 20]
    uv run python -m bench.lag --rate 500 --seconds 2  # smoke: proves it runs
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from bench.relay import make_events
from oo_contracts.events import EventEnvelope
from services.events.jetstream import STREAM, JetStreamLink, message_id, subject
from services.events.repository import EventStoreRepository
from services.events.settings import RelaySettings
from services.kernel.database import Database
from services.migrations.runner import upgrade_to_head
from tests.nats_server import NatsServer
from tests.postgres_cluster import PostgresCluster, free_port

TARGET_P99_SECONDS = 1.0
BATCH = 100


@dataclass
class Arrivals:
    """When each message arrived (perf_counter), by its `Nats-Msg-Id`, and how often each came."""

    at: dict[str, float] = field(default_factory=dict)
    seen: Counter[str] = field(default_factory=Counter)

    async def on_message(self, message: Msg) -> None:
        key = (message.headers or {}).get("Nats-Msg-Id", "")
        self.seen[key] += 1
        self.at.setdefault(key, time.perf_counter())


async def paced(
    rate: float, seconds: float, send: Callable[[list[EventEnvelope]], Awaitable[list[float]]]
) -> dict[str, float]:
    """Batches of BATCH at `rate` events/s for `seconds`; each event's send time (perf_counter) by message id.
    A batch that falls behind is sent at once: the rate is kept on average, as a real load would."""
    sent: dict[str, float] = {}
    batches = int(rate * seconds / BATCH)
    start = time.perf_counter()
    for k in range(batches):
        delay = start + k * BATCH / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        events = make_events(BATCH)
        times = await send(events)
        sent.update({message_id(e.user_id, e.id): at for e, at in zip(events, times, strict=True)})
    return sent


async def consumer(url: str, arrivals: Arrivals) -> tuple[Client, object]:
    client = await nats.connect(url)
    js = client.jetstream()
    # From the next message on: the raw run's 100,000 messages stay in the stream, and a consumer made
    # to read them first would count their delivery time as the relay's lag.
    subscription = await js.subscribe(
        "oo.user.>", cb=arrivals.on_message, ordered_consumer=True, stream=STREAM, deliver_policy=DeliverPolicy.NEW
    )
    return client, subscription


async def wait_all(arrivals: Arrivals, sent: dict[str, float], seconds: float = 60) -> None:
    deadline = time.perf_counter() + seconds
    while not all(key in arrivals.at for key in sent):
        if time.perf_counter() > deadline:
            missing = sum(key not in arrivals.at for key in sent)
            raise RuntimeError(f"{missing} of {len(sent)} events never arrived")
        await asyncio.sleep(0.05)


def lags(arrivals: Arrivals, sent: dict[str, float]) -> list[float]:
    return [arrivals.at[key] - at for key, at in sent.items()]


def describe(name: str, values: list[float]) -> float:
    p99 = statistics.quantiles(values, n=100)[98]
    p50 = statistics.median(values)
    print(f"{name:28} p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms")
    return p99


async def raw_lag(server: NatsServer, rate: float, seconds: float) -> list[float]:
    """The baseline: the same messages published by nats-py alone, publish to arrival."""
    settings = RelaySettings(nats_url=server.url)
    link = JetStreamLink(settings)
    js = await link.jetstream()  # the stream as the relay makes it
    arrivals = Arrivals()
    client, _ = await consumer(server.url, arrivals)
    try:

        async def send(events: list[EventEnvelope]) -> list[float]:
            times = []
            for e in events:
                times.append(time.perf_counter())  # handed over: the arrival may come before the ack does
                await js.publish(
                    subject(e.user_id, e.type),
                    e.model_dump_json().encode(),
                    headers={"Nats-Msg-Id": message_id(e.user_id, e.id)},
                )
            return times

        sent = await paced(rate, seconds, send)
        await wait_all(arrivals, sent)
        assert set(arrivals.seen.values()) == {1}, "a message arrived twice"
        return lags(arrivals, sent)
    finally:
        await client.close()
        await link.close()


async def relayed_lag(server: NatsServer, database_url: str, rate: float, seconds: float) -> list[float]:
    database = Database(database_url)
    store = EventStoreRepository()
    arrivals = Arrivals()
    client, _ = await consumer(server.url, arrivals)
    try:

        async def send(events: list[EventEnvelope]) -> list[float]:
            async with database.transaction() as uow:
                await store.append(uow, events, recorded_at=datetime.now(UTC))
            return [time.perf_counter()] * len(events)  # the commit has returned: each event exists now

        sent = await paced(rate, seconds, send)
        await wait_all(arrivals, sent)
        assert set(arrivals.seen.values()) == {1}, "an event arrived twice"
        return lags(arrivals, sent)
    finally:
        await client.close()
        await database.dispose()


def start_worker(database_url: str, nats_url: str, data_dir: str) -> subprocess.Popen[bytes]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OO_")}
    env |= {"DATABASE_URL": database_url, "NATS_URL": nats_url, "OO_DATA_DIR": data_dir, "OO_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "services", "worker", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the worker did not become ready")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=5_000.0, help="events committed per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(f"end-to-end lag at {args.rate:,.0f} events/s for {args.seconds:.0f} s, batches of {BATCH}, Postgres")
    server = NatsServer(Path(tempfile.mkdtemp(prefix="oo-bench-nats-")))
    server.start()
    cluster = PostgresCluster.start()
    try:
        raw = asyncio.run(raw_lag(server, args.rate, args.seconds))
        url = cluster.create_database("bench")
        database = Database(url)
        asyncio.run(_migrate(database))
        with tempfile.TemporaryDirectory() as data_dir:
            worker = start_worker(url, server.url, data_dir)
            try:
                relayed = asyncio.run(relayed_lag(server, url, args.rate, args.seconds))
            finally:
                worker.terminate()
                worker.wait(timeout=15)
    finally:
        cluster.stop()
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
    raw_p99 = describe("raw publish → consumer", raw)
    p99 = describe("commit → relay → consumer", relayed)
    print(f"every event arrived exactly once: {len(relayed):,} relayed, {len(raw):,} raw")
    print(f"p99 ratio relayed/raw: {p99 / raw_p99:.1f}×")
    met = "met" if p99 <= TARGET_P99_SECONDS else "NOT met"
    print(f"target p99 ≤ {TARGET_P99_SECONDS:.0f} s at {args.rate:,.0f} events/s: {p99:.3f} s {met}")


async def _migrate(database: Database) -> None:
    try:
        await upgrade_to_head(database)
    finally:
        await database.dispose()


if __name__ == "__main__":
    main()
