"""The operator's viewer reading the JetStream mirror (ADR 0033): every process's events reach the
stream `OO_EVENTS` through the worker's relay, so an admin watching through one api process sees what
another stored. The filters are the subject (`jetstream.subject_filter`): the server sends only what
matches.

Both reads go through ordered push consumers (ephemeral, no acks, in memory on the server): the recent
events from a start sequence computed from the stream's last one, then the live ones from the next
sequence on, so nothing falls between the two and nothing is shown twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from oo_contracts.events import EventEnvelope
from services.events.jetstream import STREAM, JetStreamLink, subject_filter
from services.events.watch import QUEUE_LIMIT, EventFilter, bounded_put, recent_then_live
from services.kernel.errors import Unavailable

# An admin's request answers within this, whatever NATS does: a first connection, the stream's state
# and the recent messages together.
READ_SECONDS = 5.0

T = TypeVar("T")
log = structlog.get_logger(__name__)


def unavailable() -> Unavailable:
    return Unavailable("the events cannot be read right now: NATS cannot be reached", code="events_unavailable")


async def _answering(read: Awaitable[T]) -> T:
    """`read` within READ_SECONDS, NATS's failures as 503 `events_unavailable`."""
    try:
        async with asyncio.timeout(READ_SECONDS):
            return await read
    except (nats.errors.Error, OSError, TimeoutError) as error:
        log.warning("events_mirror_unavailable", error_type=type(error).__name__, error=str(error))
        raise unavailable() from error


class MirrorWatch:
    """The viewer's `EventSource` when NATS_URL is set. `window` bounds the work of a filtered recent
    list: the newest `window` messages of the stream are looked through (by the server), as the local
    source looks through its buffer of that size."""

    def __init__(self, link: JetStreamLink, window: int) -> None:
        self._link = link
        self._window = window

    async def recent(self, only: EventFilter, limit: int) -> list[EventEnvelope]:
        async def read() -> list[EventEnvelope]:
            backlog, _ = await self._recent(await self._link.connected(), only, limit)
            return backlog

        return await _answering(read())

    @asynccontextmanager
    async def watching(self, only: EventFilter, recent: int) -> AsyncIterator[AsyncIterator[EventEnvelope]]:
        queue: asyncio.Queue[EventEnvelope] = asyncio.Queue(QUEUE_LIMIT)

        async def deliver(message: Msg) -> None:
            bounded_put(queue, EventEnvelope.model_validate_json(message.data))

        async def start() -> tuple[list[EventEnvelope], JetStreamContext.PushSubscription]:
            js = await self._link.connected()
            backlog, last = await self._recent(js, only, recent)
            # From the sequence after the recent ones were read up to: none missed, none twice.
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=last + 1)
            live = await js.subscribe(
                subject_filter(only.user_id, only.type), stream=STREAM, cb=deliver, ordered_consumer=True, config=config
            )
            return backlog, live

        backlog, live = await _answering(start())
        try:
            yield recent_then_live(backlog, queue, only)
        finally:
            # The watcher went away; NATS may have too, and the server drops the consumer without interest.
            with contextlib.suppress(nats.errors.Error, OSError):
                await live.unsubscribe()

    async def _recent(self, js: JetStreamContext, only: EventFilter, limit: int) -> tuple[list[EventEnvelope], int]:
        """The newest `limit` matching events, newest first, and the stream sequence they were read up to."""
        state = (await js.stream_info(STREAM)).state
        last = state.last_seq
        # Unfiltered, every message matches: the newest `limit` are the last `limit` sequences (fewer if
        # some were purged). Filtered, the newest `window` messages are looked through.
        span = limit if only == EventFilter() else max(limit, self._window)
        start = max(state.first_seq, last - span + 1, 1)
        if state.messages == 0 or start > last:
            return [], last
        kept: deque[bytes] = deque(maxlen=limit)
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        reading = await js.subscribe(
            subject_filter(only.user_id, only.type), stream=STREAM, ordered_consumer=True, config=config
        )
        try:
            info = await reading.consumer_info()
            more = bool(info.num_pending) or bool(info.delivered and info.delivered.consumer_seq)
            while more:
                message = await reading.next_msg(timeout=READ_SECONDS)
                sequence = message.metadata.sequence.stream
                if sequence > last:  # stored after the stream's state was read
                    break
                kept.append(message.data)
                more = sequence < last and bool(message.metadata.num_pending)
        finally:
            with contextlib.suppress(nats.errors.Error, OSError):
                await reading.unsubscribe()
        events = [EventEnvelope.model_validate_json(data) for data in kept]
        return [event for event in reversed(events) if only.matches(event)], last
