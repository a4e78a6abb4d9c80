"""The outbox relay to JetStream, in process, against a real nats-server, on SQLite and Postgres."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from sqlalchemy import func, insert, select, text

from oo_contracts.events import EventEnvelope
from services.bootstrap import Container, bootstrap
from services.events.jetstream import STREAM, message_id, subject
from services.events.relay import VACUUM_EVERY, OutboxRelay
from services.events.repository import EventStoreRepository, OutboxRepository
from services.events.tables import events_outbox, events_store
from services.kernel.metrics import Metrics
from tests.nats_server import stream_counts


def envelope(user_id: str, *, event_id: uuid.UUID | None = None, energy: int = 3) -> EventEnvelope:
    return EventEnvelope(
        id=event_id or uuid.uuid4(),
        type="profile.checkin_recorded.v1",
        user_id=user_id,
        occurred_at=datetime.now(UTC) - timedelta(minutes=1),
        source="web",
        schema_version=1,
        payload={"energy": energy, "mood": 4},
    )


async def store(container: Container, events: list[EventEnvelope]) -> None:
    """Straight into the outbox (the bus's projections are beside the point here)."""
    async with container.database.transaction() as uow:
        await EventStoreRepository().append(uow, events, recorded_at=datetime.now(UTC))


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(nats_url)
    yield client.jetstream()
    await client.close()


def relay_of(container: Container) -> OutboxRelay:
    relay = container.events.relay(container.database, Metrics().registry)
    assert relay is not None
    return relay


async def drain(relay: OutboxRelay) -> int:
    return await relay.drain()


async def unpublished(container: Container) -> int:
    async with container.database.transaction(write=False) as uow:
        query = select(func.count()).select_from(events_outbox)
        return int((await uow.connection.execute(query)).scalar_one())


async def all_messages(js: JetStreamContext) -> list[RawStreamMsg]:
    info = await js.stream_info(STREAM)
    messages = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        raw = await js.get_msg(STREAM, seq)
        messages.append(raw)
    return messages


async def test_the_relay_publishes_every_unpublished_row_by_person_and_type_and_marks_it(relayed, js):
    ana, bob = [envelope("usr_ana") for _ in range(3)], [envelope("usr_bob") for _ in range(2)]
    await store(relayed, ana + bob)
    relay = relay_of(relayed)
    await relay._measure_lag()
    assert relay.lag._value.get() > 0  # rows are waiting

    assert await drain(relay) == 5
    assert await unpublished(relayed) == 0
    assert await stream_counts(js, "oo.user.>") == {
        "oo.user.usr_ana.profile.checkin_recorded.v1": 3,
        "oo.user.usr_bob.profile.checkin_recorded.v1": 2,
    }
    raws = await all_messages(js)
    by_id = {EventEnvelope.model_validate_json(raw.data or b"").id: raw for raw in raws}
    for event in ana + bob:
        raw = by_id[event.id]
        assert EventEnvelope.model_validate_json(raw.data or b"") == event
        assert raw.subject == subject(event.user_id, event.type)
        assert (raw.headers or {})["Nats-Msg-Id"] == message_id(event.user_id, event.id)
    await relay._measure_lag()
    assert relay.lag._value.get() == 0
    assert relay.published._value.get() == 5


async def test_storing_an_event_queues_it_once_and_a_replay_queues_nothing(relayed):
    events = [envelope("usr_ana") for _ in range(3)]
    await store(relayed, events)
    await store(relayed, events)  # the same ids again: already known, nothing new to relay
    async with relayed.database.transaction(write=False) as uow:
        queued = set((await uow.connection.execute(select(events_outbox.c.seq))).scalars())
        stored = set((await uow.connection.execute(select(events_store.c.seq))).scalars())
    assert queued == stored
    assert len(queued) == 3


async def test_erasing_a_person_takes_their_events_off_the_queue(relayed):
    await store(relayed, [envelope("usr_ana") for _ in range(3)] + [envelope("usr_bob")])
    async with relayed.database.transaction() as uow:
        assert await relayed.events.user_data.erase_user(uow, "usr_ana")
    assert await unpublished(relayed) == 1


async def test_a_row_below_the_highest_published_seq_is_still_relayed(relayed, js):
    await store(relayed, [envelope("usr_ana") for _ in range(3)])
    relay = relay_of(relayed)
    await drain(relay)
    # A row whose transaction took its seq first but committed last: a max-seq cursor would skip it.
    late = envelope("usr_ana")
    async with relayed.database.transaction() as uow:
        await uow.connection.execute(
            insert(events_store).values(
                seq=0,
                event_id=late.id,
                type=late.type,
                user_id=late.user_id,
                occurred_at=late.occurred_at,
                recorded_at=datetime.now(UTC),
                source=late.source,
                schema_version=1,
                payload=late.payload,
            )
        )
        await uow.connection.execute(insert(events_outbox).values(seq=0))
    assert await drain(relay) == 1
    assert (await js.stream_info(STREAM)).state.messages == 4


async def test_a_row_published_again_is_dropped_by_the_duplicate_window(relayed, js):
    await store(relayed, [envelope("usr_ana") for _ in range(4)])
    relay = relay_of(relayed)
    await drain(relay)
    # As after a crash between the PubAck and the dequeue: every event queued again.
    async with relayed.database.transaction() as uow:
        await uow.connection.execute(insert(events_outbox).from_select(["seq"], select(events_store.c.seq)))
    assert await drain(relay) == 4
    assert await unpublished(relayed) == 0
    assert (await js.stream_info(STREAM)).state.messages == 4


async def test_two_relays_at_once_put_each_event_in_the_stream_once(relayed, js):
    events = [envelope(f"usr_{i % 7}") for i in range(3000)]
    await store(relayed, events)
    other = bootstrap(relayed.settings)  # a second worker: its own engine, its own NATS connection
    try:
        relays = [relay_of(relayed), relay_of(other)]
        # Small batches so that the two interleave many times.
        for relay in relays:
            relay._settings = relay._settings.model_copy(update={"batch_size": 100})
        moved = await asyncio.gather(*(drain(relay) for relay in relays))
    finally:
        await other.close()
    assert await unpublished(relayed) == 0
    assert sum(moved) >= 3000
    if relayed.database.dialect == "postgresql":
        # Claimed with FOR UPDATE SKIP LOCKED: no row is published by both.
        assert sum(moved) == 3000
    assert (await js.stream_info(STREAM)).state.messages == 3000


async def test_a_row_erased_between_its_read_and_its_mark_leaves_no_message(relayed, js):
    """An erasure that runs while a batch is in flight (on SQLite nothing holds the rows meanwhile)."""
    await store(relayed, [envelope("usr_ana") for _ in range(3)] + [envelope("usr_bob")])
    relay = relay_of(relayed)
    repository = relay._repository
    original = repository.relayed

    async def erased_first(uow, seqs):
        await relayed.events.user_data.erase_user(uow, "usr_ana")
        return await original(uow, seqs)

    repository.relayed = erased_first  # type: ignore[method-assign]
    assert await relay.drain() == 1
    assert await stream_counts(js, "oo.user.>") == {"oo.user.usr_bob.profile.checkin_recorded.v1": 1}


async def test_without_nats_url_there_is_no_relay(container):
    assert container.events.relay(container.database, Metrics().registry) is None


async def test_the_relay_vacuums_the_postgres_queue_after_every_few_thousand_deletions(relayed):
    await store(relayed, [envelope(f"usr_{i % 7}") for i in range(VACUUM_EVERY + 500)])
    relay = relay_of(relayed)
    vacuums = []
    real = relay._repository.vacuum

    async def counted(uow):
        vacuums.append(uow)
        await real(uow)

    relay._repository.vacuum = counted  # type: ignore[method-assign]
    assert await drain(relay) == VACUUM_EVERY + 500
    # SQLite's deletions leave nothing behind to clear.
    assert len(vacuums) == (1 if relayed.database.dialect == "postgresql" else 0)


@pytest.mark.parametrize("backend", ["postgres"])
async def test_the_queue_vacuum_runs_outside_a_transaction_and_postgres_records_it(relayed):
    async with relayed.database.transaction(write=False) as uow:
        await OutboxRepository().vacuum(uow)
    query = text("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'events_outbox'")
    deadline = asyncio.get_running_loop().time() + 30
    while True:  # the statistics reach the view within a second or so of the vacuum
        async with relayed.database.transaction(write=False) as uow:
            if (await uow.connection.execute(query)).scalar_one() >= 1:
                return
        assert asyncio.get_running_loop().time() < deadline, "no vacuum of events_outbox recorded"
        await asyncio.sleep(0.1)
