"""Account deletion purges the person's messages from JetStream, and only theirs (SQLite and Postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext

from services.bootstrap import Container, bootstrap
from tests.conftest import new_user_with_token
from tests.nats_server import stream_counts, with_nats
from tests.postgres_cluster import free_port
from tests.test_relay import drain, envelope, relay_of


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
