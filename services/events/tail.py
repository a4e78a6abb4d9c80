"""A cross-process consumer of the JetStream mirror: a durable pull consumer with explicit acks that
applies each event once by its identity (ADR 0031).

JetStream delivers at least once: a message whose ack was lost (the consumer stopped between applying
and acking; a server killed before the ack reached its disk) comes again, and a row re-published after
the duplicate window is a second message. Both are recognised by (user id, event id) and only acked.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from uuid import UUID

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from oo_contracts.events import EventEnvelope
from services.events.jetstream import STREAM, SUBJECT_PREFIX

Apply = Callable[[EventEnvelope], Awaitable[None]]


class SeenEvents:
    """The identities of the events applied, the newest `capacity` of them.

    In memory: a consumer that restarts resumes after its durable's last ack, so what it sees again is
    only what was in flight; one whose effects must survive that keeps the ids with them."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: OrderedDict[tuple[str, UUID], None] = OrderedDict()
        self._capacity = capacity

    def add(self, user_id: str, event_id: UUID) -> bool:
        """Record an event; False if it was already recorded."""
        key = (user_id, event_id)
        if key in self._ids:
            self._ids.move_to_end(key)
            return False
        self._ids[key] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True

    def discard(self, user_id: str, event_id: UUID) -> None:
        self._ids.pop((user_id, event_id), None)


class EventTail:
    """The durable consumer `durable` of the stream, from its first message, acked one by one."""

    def __init__(
        self,
        js: JetStreamContext,
        durable: str,
        apply: Apply,
        *,
        seen: SeenEvents | None = None,
        ack_wait_seconds: float = 30.0,
        filter_subject: str = f"{SUBJECT_PREFIX}.>",
    ) -> None:
        self._js = js
        self._durable = durable
        self._apply = apply
        self.seen = seen or SeenEvents()
        self._config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ack_wait_seconds,
            filter_subject=filter_subject,
        )
        self._subscription: JetStreamContext.PullSubscription | None = None

    async def subscription(self) -> JetStreamContext.PullSubscription:
        if self._subscription is None:
            self._subscription = await self._js.pull_subscribe(
                str(self._config.filter_subject), durable=self._durable, stream=STREAM, config=self._config
            )
        return self._subscription

    async def apply(self, envelope: EventEnvelope) -> bool:
        """Apply `envelope` unless it was applied already; True if it was applied now."""
        if not self.seen.add(envelope.user_id, envelope.id):
            return False
        try:
            await self._apply(envelope)
        except BaseException:  # not applied: the message comes again and is applied then
            self.seen.discard(envelope.user_id, envelope.id)
            raise
        return True

    async def pull(self, batch: int = 256, wait_seconds: float = 1.0) -> int:
        """Fetch up to `batch` messages (waiting up to `wait_seconds` for the first), apply the new ones, ack
        each once applied; returns how many were applied (repeats are acked, not applied)."""
        subscription = await self.subscription()
        try:
            messages = await subscription.fetch(batch, timeout=wait_seconds)
        except NatsTimeout:
            return 0
        applied = 0
        for message in messages:
            applied += await self.handle(message)
        return applied

    async def handle(self, message: Msg) -> int:
        """Apply a fetched message's event unless already applied, then ack it; 1 if applied now."""
        envelope = EventEnvelope.model_validate_json(message.data)
        applied = await self.apply(envelope)
        # Synchronous: the ack is known stored before the next message, so a crash repeats at most one.
        await message.ack_sync()
        return int(applied)
