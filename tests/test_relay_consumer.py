"""The first cross-process consumer of the JetStream mirror: a durable pull consumer with explicit acks,
idempotent by event id; and `oo events tail`, which prints through it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from nats.js import JetStreamContext

from oo_contracts.events import EventEnvelope
from services.events.jetstream import STREAM, JetStreamLink, message_id, subject
from services.events.settings import RelaySettings
from services.events.tail import Apply, EventTail
from tests.test_processes import _env as process_env
from tests.test_relay import drain, envelope, relay_of, store


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    link = JetStreamLink(RelaySettings(nats_url=nats_url))  # the stream as the relay makes it
    yield await link.jetstream()
    await link.close()


def recorder() -> tuple[list[EventEnvelope], Apply]:
    applied: list[EventEnvelope] = []

    async def apply(event: EventEnvelope) -> None:
        applied.append(event)

    return applied, apply


def tail_once(command: list[str], env: dict[str, str]) -> str:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True).stdout


async def publish(js: JetStreamContext, event: EventEnvelope, msg_id: str) -> None:
    await js.publish(
        subject(event.user_id, event.type), event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id}
    )


async def test_a_redelivered_message_is_applied_once(js):
    applied, apply = recorder()
    event = envelope("usr_ana")
    await publish(js, event, message_id(event.user_id, event.id))
    tail = EventTail(js, "redelivery", apply, ack_wait_seconds=0.5)
    # The consumer applies the event and stops before its ack: JetStream delivers it again.
    [first] = await (await tail.subscription()).fetch(1, timeout=5)
    assert await tail.apply(EventEnvelope.model_validate_json(first.data))
    [again] = await (await tail.subscription()).fetch(1, timeout=30)
    assert again.metadata.num_delivered == 2
    assert await tail.handle(again) == 0  # recognised, acked, not applied
    info = await (await tail.subscription()).consumer_info()
    assert (info.num_ack_pending, info.num_pending) == (0, 0)
    assert applied == [event]


async def test_an_event_published_twice_past_the_duplicate_window_is_applied_once(js):
    applied, apply = recorder()
    event, other = envelope("usr_ana"), envelope("usr_bob")
    await publish(js, event, "first-copy")
    await publish(js, event, "second-copy")  # as a re-publish JetStream no longer recognises
    await publish(js, other, message_id(other.user_id, other.id))
    assert (await js.stream_info(STREAM)).state.messages == 3
    tail = EventTail(js, "twice", apply)
    while await tail.pull(wait_seconds=0.5):
        pass
    assert applied == [event, other]


async def test_oo_events_tail_prints_each_relayed_event_once_and_resumes_where_it_stopped(relayed, nats_url, tmp_path):
    events = [envelope(f"usr_{i % 3}") for i in range(7)]
    await store(relayed, events)
    await drain(relay_of(relayed))
    env = {**process_env(tmp_path / "cli"), "NATS_URL": nats_url}
    command = [sys.executable, "-m", "services", "events", "tail", "--durable", "cli-test"]

    printed = await asyncio.to_thread(tail_once, command, env)
    assert [EventEnvelope.model_validate(json.loads(line)) for line in printed.splitlines()] == events

    later = envelope("usr_0")
    await store(relayed, [later])
    await drain(relay_of(relayed))
    again = await asyncio.to_thread(tail_once, command, env)
    assert [EventEnvelope.model_validate_json(line) for line in again.splitlines()] == [later]
