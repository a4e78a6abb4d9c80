"""Account deletion purges the person's messages from JetStream, and only theirs; a forgotten provider
takes what was read there out of the stream (SQLite and Postgres)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from oo_contracts.events import EventEnvelope
from services.bootstrap import Container, bootstrap
from services.events.jetstream import STREAM
from services.events.relay import RelayIncomplete
from tests.conftest import new_user_with_token
from tests.nats_server import stream_counts, with_nats
from tests.postgres_cluster import free_port
from tests.test_relay import drain, envelope, relay_of, unpublished


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(nats_url)
    yield client.jetstream()
    await client.close()


async def two_people_relayed(container: Container) -> tuple[str, str]:
    ana, _ = await new_user_with_token(container)
    bob, _ = await new_user_with_token(container)
    async with container.database.transaction() as uow:
        await container.events.bus.publish(uow, [envelope(ana, energy=e) for e in (1, 2, 3)])
        await container.events.bus.publish(uow, [envelope(bob, energy=e) for e in (4, 5)])
    await drain(relay_of(container))
    return ana, bob


async def delete(container: Container, user_id: str) -> None:
    async with container.database.transaction() as uow:
        assert await container.profile.privacy.request_deletion(uow, user_id) is not None


async def test_deleting_an_account_purges_its_messages_and_keeps_everyone_elses(relayed, js):
    ana, bob = await two_people_relayed(relayed)
    checkins = "profile.checkin_recorded.v1"
    assert (await stream_counts(js, f"oo.user.{ana}.>"))[f"oo.user.{ana}.{checkins}"] == 3

    await delete(relayed, ana)  # the deletion runs once this commits

    assert await stream_counts(js, f"oo.user.{ana}.>") == {}
    assert (await stream_counts(js, f"oo.user.{bob}.>"))[f"oo.user.{bob}.{checkins}"] == 2
    assert await relayed.profile.privacy.resume_pending() == 0  # nothing left half-way


async def test_a_deletion_that_cannot_reach_nats_resumes_and_purges_once_it_can(relayed, js):
    ana, bob = await two_people_relayed(relayed)
    # The same database, but NATS unreachable (a port nothing listens on).
    cut_off = bootstrap(with_nats(relayed.settings, f"nats://127.0.0.1:{free_port()}"))
    try:
        await delete(cut_off, ana)
        async with cut_off.database.transaction(write=False) as uow:
            assert await cut_off.auth.identity.users_being_deleted(uow) == [ana]
    finally:
        await cut_off.close()
    assert set(await stream_counts(js, f"oo.user.{ana}.>"))  # still there

    assert await relayed.profile.privacy.resume_pending() == 1

    assert await stream_counts(js, f"oo.user.{ana}.>") == {}
    assert set(await stream_counts(js, f"oo.user.{bob}.>"))


def read_there(user_id: str, event_type: str, payload: dict[str, Any]) -> EventEnvelope:
    return EventEnvelope(
        id=uuid.uuid4(),
        type=event_type,
        user_id=user_id,
        occurred_at=datetime.now(UTC) - timedelta(minutes=1),
        source="integration",
        schema_version=1,
        payload=payload,
    )


def task_synced(user_id: str, provider: str, task: int) -> EventEnvelope:
    return read_there(
        user_id, "integrations.task_synced.v1", {"provider": provider, "task_id": f"{provider}:{task}", "priority": 2}
    )


def forgotten(user_id: str, provider: str) -> EventEnvelope:
    return read_there(user_id, "integrations.provider_forgotten.v1", {"provider": provider})


async def publish(container: Container, events: list[EventEnvelope]) -> None:
    async with container.database.transaction() as uow:
        await container.events.bus.publish(uow, events)


async def test_a_forgotten_provider_leaves_the_stream_with_what_was_read_there_and_nothing_else(relayed, js):
    ana, bob = "usr_ana", "usr_bob"
    now = datetime.now(UTC).replace(microsecond=0)
    busy = {
        "calendar": "google",
        "window_start": now.isoformat(),
        "window_end": (now + timedelta(days=1)).isoformat(),
        "intervals": [{"start": now.isoformat(), "end": (now + timedelta(hours=1)).isoformat()}],
    }
    await publish(
        relayed,
        [
            task_synced(ana, "todoist", 1),
            task_synced(ana, "todoist", 2),
            read_there(ana, "integrations.task_removed.v1", {"provider": "todoist", "task_id": "todoist:1"}),
            task_synced(ana, "ticktick", 3),
            read_there(ana, "integrations.busy_synced.v1", busy),
            task_synced(bob, "todoist", 4),
        ],
    )
    relay = relay_of(relayed)
    await drain(relay)

    await publish(relayed, [forgotten(ana, "todoist")])
    await drain(relay)
    await publish(relayed, [task_synced(ana, "todoist", 5)])  # connected again: read anew, and kept
    await drain(relay)

    prefix = f"oo.user.{ana}.integrations"
    assert await stream_counts(js, f"oo.user.{ana}.>") == {
        f"{prefix}.task_synced.v1": 2,  # ticktick's, and the one read after the forgetting
        f"{prefix}.busy_synced.v1": 1,
        f"{prefix}.provider_forgotten.v1": 1,
    }
    assert await stream_counts(js, f"oo.user.{bob}.>") == {f"oo.user.{bob}.integrations.task_synced.v1": 1}
    kept = [
        json.loads(raw.data or b"")["payload"]["task_id"] for raw in await messages_of(js, f"{prefix}.task_synced.v1")
    ]
    assert kept == ["ticktick:3", "todoist:5"]


async def test_a_forgetting_that_cannot_clear_the_stream_stays_queued_and_clears_it_on_the_next_pass(relayed, js):
    ana = "usr_ana"
    await publish(relayed, [task_synced(ana, "todoist", 1)])
    relay = relay_of(relayed)
    await drain(relay)
    await publish(relayed, [forgotten(ana, "todoist")])
    link = relay._link
    clearing = link.delete_matching

    async def away(*args, **kwargs):
        raise ConnectionError("NATS went away")

    link.delete_matching = away  # type: ignore[method-assign]
    with pytest.raises(RelayIncomplete):
        await drain(relay)
    assert await unpublished(relayed) == 1
    assert (await stream_counts(js, f"oo.user.{ana}.>"))[f"oo.user.{ana}.integrations.task_synced.v1"] == 1

    link.delete_matching = clearing  # type: ignore[method-assign]
    assert await drain(relay) == 1
    assert await unpublished(relayed) == 0
    assert await stream_counts(js, f"oo.user.{ana}.>") == {f"oo.user.{ana}.integrations.provider_forgotten.v1": 1}


async def messages_of(js: JetStreamContext, wanted: str) -> list[RawStreamMsg]:
    found: list[RawStreamMsg] = []
    seq = 1
    while True:
        try:
            raw = await js.get_msg(STREAM, seq=seq, subject=wanted, next=True)
        except nats.js.errors.NotFoundError:
            return found
        found.append(raw)
        seq = (raw.seq or 0) + 1
