"""Relay benchmark: outbox rows to acknowledged JetStream messages, against a raw nats-py publish_async.

oO's `OutboxRelay.drain` empties a queue of N events (`events_outbox` in `seq` order joined to
`events_store`, published with `publish_async`, acks awaited per batch, the batch's entries deleted in
one statement) on SQLite and on a throwaway Postgres; the baseline publishes the very same messages
(subjects, payloads, `Nats-Msg-Id`) with raw `publish_async` in batches of the same size, acks awaited
per batch, to the same stream, in the same run. Both against a throwaway nats-server with JetStream on
loopback. The two alternate for `--rounds` rounds and the
medians are compared: one raw run alone moved by a third from run to run on this 2-core machine.

    uv run python -m bench.relay                    # 50,000 events, 3 rounds
    uv run python -m bench.relay --events 2000      # a smoke run; its numbers mean nothing
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import nats
from nats.js.errors import NotFoundError
from sqlalchemy import text

from oo_contracts.events import EventEnvelope
from services.events.jetstream import STREAM, JetStreamLink, message_id, subject
from services.events.relay import OutboxRelay
from services.events.repository import EventStoreRepository, OutboxRepository
from services.events.settings import RelaySettings
from services.kernel.database import Database
from services.kernel.metrics import Metrics
from services.migrations.runner import upgrade_to_head
from tests.nats_server import NatsServer
from tests.postgres_cluster import PostgresCluster

TARGET_RATIO = 0.5
TARGET_RATE = 10_000


def make_events(count: int) -> list[EventEnvelope]:
    at = datetime.now(UTC) - timedelta(minutes=1)
    return [
        EventEnvelope(
            id=uuid4(),
            type="profile.checkin_recorded.v1",
            user_id=f"usr_{i % 100:024x}",
            occurred_at=at,
            source="web",
            schema_version=1,
            payload={"energy": 1 + i % 5, "mood": 1 + (i // 5) % 5},
        )
        for i in range(count)
    ]


async def reset_stream(url: str) -> None:
    client = await nats.connect(url)
    try:
        with contextlib.suppress(NotFoundError):
            await client.jetstream().delete_stream(STREAM)
    finally:
        await client.close()


async def raw_rate(url: str, settings: RelaySettings, events: list[EventEnvelope], batch: int) -> float:
    """The same messages with nats-py alone: publish_async a batch, await its acks, next batch."""
    await reset_stream(url)
    link = JetStreamLink(settings)  # the stream with the relay's own limits
    await link.jetstream()
    await link.close()
    messages = [(subject(e.user_id, e.type), e.model_dump_json().encode(), message_id(e.user_id, e.id)) for e in events]
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        started = time.perf_counter()
        for start in range(0, len(messages), batch):
            futures = [
                await js.publish_async(s, payload, headers={"Nats-Msg-Id": msg_id})
                for s, payload, msg_id in messages[start : start + batch]
            ]
            await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
        assert (await js.stream_info(STREAM)).state.messages == len(messages)
    finally:
        await client.close()
    return len(messages) / elapsed


async def relay_rate(url: str, settings: RelaySettings, database_url: str, events: list[EventEnvelope]) -> float:
    await reset_stream(url)
    database = Database(database_url)
    link = JetStreamLink(settings)
    try:
        await upgrade_to_head(database)
        async with database.transaction() as uow:
            await EventStoreRepository().append(uow, events, recorded_at=datetime.now(UTC))
        if database.dialect == "postgresql":
            # The load is not what is measured: its autovacuum would otherwise run inside the timed drain.
            async with database.engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text("VACUUM ANALYZE events_store, events_outbox"))
        relay = OutboxRelay(database, link, settings, Metrics().registry)
        await link.jetstream()  # connected and the stream made before the clock starts, as in a running worker
        started = time.perf_counter()
        moved = await relay.drain()
        elapsed = time.perf_counter() - started
        assert moved == len(events), (moved, len(events))
        async with database.transaction(write=False) as uow:
            assert await OutboxRepository().oldest_pending_at(uow) is None
    finally:
        await link.close()
        await database.dispose()
    return moved / elapsed


def report(name: str, relay: float, raw: float) -> None:
    ratio = relay / raw
    print(f"{name:9} relay {relay:>9,.0f} events/s | raw publish_async {raw:>9,.0f}/s | ratio relay/raw = {ratio:.2f}")
    ratio_met = "met" if ratio >= TARGET_RATIO else "NOT met"
    rate_met = "met" if relay >= TARGET_RATE else "NOT met"
    print(f"{name:9} target ≥ {TARGET_RATIO:.0%} of raw: {ratio_met}; target ≥ {TARGET_RATE:,} events/s: {rate_met}")


async def measure(
    name: str, server: NatsServer, new_database: Callable[[], str], count: int, batch: int, rounds: int
) -> None:
    """Raw and relay alternately, each round on new events and a new database."""
    settings = RelaySettings(nats_url=server.url, batch_size=batch)
    await raw_rate(server.url, settings, make_events(2 * batch), batch)  # warm-up
    raws, relays = [], []
    for _ in range(rounds):
        events = make_events(count)
        raws.append(await raw_rate(server.url, settings, events, batch))
        relays.append(await relay_rate(server.url, settings, new_database(), events))
    report(name, statistics.median(relays), statistics.median(raws))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    print(f"oO relay benchmark: {args.events:,} outbox rows, batches of {args.batch}, median of {args.rounds} rounds")
    server = NatsServer(Path(tempfile.mkdtemp(prefix="oo-bench-nats-")))
    server.start()
    try:
        if args.backend in ("sqlite", "both"):
            with tempfile.TemporaryDirectory() as data_dir:
                files = (f"sqlite:///{Path(data_dir) / f'relay-{n}.sqlite3'}" for n in itertools.count())
                asyncio.run(measure("sqlite", server, files.__next__, args.events, args.batch, args.rounds))
        if args.backend in ("postgres", "both"):
            cluster = PostgresCluster.start()
            try:
                names = (f"bench_{n}" for n in itertools.count())
                databases = lambda: cluster.create_database(next(names))  # noqa: E731
                asyncio.run(measure("postgres", server, databases, args.events, args.batch, args.rounds))
            finally:
                cluster.stop()
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


if __name__ == "__main__":
    main()
