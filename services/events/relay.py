"""The outbox relay: every event with an `events_outbox` entry, published to JetStream (ADR 0031, 0034).

A batch is published without waiting message by message, its acks awaited together, and only the
entries of the events JetStream acknowledged are deleted, in one statement. An entry is never deleted
before its PubAck, so a crash or an outage anywhere re-publishes the event later, and JetStream's
duplicate window (the `Nats-Msg-Id`) drops the copy; consumers dedup by event id beyond that window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
import structlog
from nats.js import JetStreamContext
from nats.js.api import PubAck
from prometheus_client import CollectorRegistry, Counter, Gauge

from services.events.forgetting import DERIVED, FORGOTTEN
from services.events.jetstream import STREAM, JetStreamLink, message_id, subject
from services.events.repository import OutboxRepository, OutboxRow
from services.events.settings import RelaySettings
from services.kernel.database import Database

log = structlog.get_logger(__name__)

# The idle poll starts this short after a busy pass and doubles up to `idle_max_seconds`.
IDLE_MIN_SECONDS = 0.02
# Postgres keeps a deleted queue entry in the table and its index until a VACUUM, and the claim, which
# reads the index from its oldest end, walks past every one: after 100,000 events relayed at 100 a
# batch it took 78 ms instead of 6. Autovacuum visits a database once a minute at best. So the relay
# vacuums the queue itself after this many deletions, for about 2 ms each time.
VACUUM_EVERY = 5_000


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        link: JetStreamLink,
        settings: RelaySettings,
        registry: CollectorRegistry,
        repository: OutboxRepository | None = None,
    ) -> None:
        self._database = database
        self._link = link
        self._settings = settings
        self._repository = repository or OutboxRepository()
        self._deleted_since_vacuum = 0
        self.published = Counter(
            "oo_relay_published_total",
            "Outbox events published to JetStream and taken off the queue.",
            registry=registry,
        )
        self.lag = Gauge(
            "oo_relay_lag_seconds",
            "Age of the oldest outbox event not yet published to JetStream (0 when none).",
            registry=registry,
        )

    async def run(self) -> None:
        """Relay until cancelled: at once while there is a backlog, polling with backoff when idle or
        when NATS or the database is unreachable."""
        pause = IDLE_MIN_SECONDS
        while True:
            relayed = 0
            try:
                relayed = await self.drain()
            except Exception as error:
                log.warning("relay_batch_failed", error_type=type(error).__name__, error=str(error))
            await self._measure_lag()
            if relayed:
                pause = IDLE_MIN_SECONDS
            await asyncio.sleep(pause)
            pause = min(pause * 2, self._settings.idle_max_seconds)

    async def drain(self) -> int:
        """Relay batch after batch until the queue is empty; returns how many events left the queue."""
        moved = 0
        while True:
            batch = await self.relay_batch()
            moved += batch
            if batch < self._settings.batch_size:
                return moved
            await asyncio.sleep(0)  # let the loop's other work in between two full batches

    async def relay_batch(self) -> int:
        """Publish at most one batch and take it off the queue; returns how many events left the queue."""
        js = await self._link.jetstream()
        limit = self._settings.batch_size
        if self._database.dialect == "postgresql":
            # The entries stay locked (FOR UPDATE SKIP LOCKED) from the claim to their deletion: another
            # worker's relay takes the next ones instead, and an account's erasure waits for this batch.
            async with self._database.transaction() as uow:
                rows = await self._repository.pending(uow, limit, claim=True)
                acks = await self._forget_mirrored(rows, await self._publish(js, rows))
                kept = await self._repository.relayed(uow, list(acks))
        else:
            # SQLite has one writer: holding its lock across the publish would stop every request. Read,
            # publish, then dequeue; a second relay publishing the same rows is dropped by the Nats-Msg-Id.
            async with self._database.transaction(write=False) as uow:
                rows = await self._repository.pending(uow, limit, claim=False)
            acks = await self._forget_mirrored(rows, await self._publish(js, rows))
            async with self._database.transaction() as uow:
                kept = await self._repository.relayed(uow, list(acks))
        await self._delete_erased(js, {seq: ack for seq, ack in acks.items() if seq not in kept})
        self.published.inc(len(kept))
        await self._vacuum_now_and_then(len(kept))
        if len(acks) < len(rows):
            raise RelayIncomplete(f"{len(rows) - len(acks)} of {len(rows)} events were not acknowledged")
        return len(kept)

    async def _publish(self, js: JetStreamContext, rows: list[OutboxRow]) -> dict[int, PubAck]:
        """Publish `rows` and wait for their acks together; the acknowledged ones by seq."""
        futures: dict[int, asyncio.Future[PubAck]] = {}
        try:
            for row in rows:
                futures[row.seq] = await js.publish_async(
                    subject(row.user_id, row.type),
                    row.envelope,
                    headers={"Nats-Msg-Id": message_id(row.user_id, row.event_id)},
                )
        except Exception as error:  # the connection went away mid-batch: keep what was acknowledged
            log.warning("relay_publish_failed", error_type=type(error).__name__, error=str(error))
        if futures:
            await asyncio.wait(futures.values(), timeout=self._settings.ack_timeout_seconds)
        acks: dict[int, PubAck] = {}
        for seq, future in futures.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                acks[seq] = future.result()
            else:
                future.cancel()
        return acks

    async def _vacuum_now_and_then(self, deleted: int) -> None:
        if self._database.dialect != "postgresql":
            return  # SQLite's deletions leave nothing behind for the next claim to walk past
        self._deleted_since_vacuum += deleted
        if self._deleted_since_vacuum < VACUUM_EVERY:
            return
        self._deleted_since_vacuum = 0
        try:
            async with self._database.transaction(write=False) as uow:
                await self._repository.vacuum(uow)
        except Exception as error:  # autovacuum still comes; the claim is only slower until then
            log.warning("relay_vacuum_failed", error_type=type(error).__name__, error=str(error))

    async def _forget_mirrored(self, rows: list[OutboxRow], acks: dict[int, PubAck]) -> dict[int, PubAck]:
        """A provider forgotten (ADR 0035) took its derived events out of the store; here they leave the
        stream too: those of that person and provider stored before the forgetting's own message. Until
        that is done the forgetting stays queued (it is left out of the returned acks), so an outage
        retries it on the next pass, and its copy is dropped by the duplicate window."""
        done = dict(acks)
        for row in rows:
            if row.type != FORGOTTEN or row.seq not in acks:
                continue
            provider = orjson.loads(row.envelope)["payload"]["provider"]
            try:
                for kind, field in DERIVED.items():
                    await self._link.delete_matching(
                        row.user_id,
                        kind,
                        before=acks[row.seq].seq,
                        matches=_naming(field, provider),
                    )
            except Exception as error:
                log.warning("relay_forgetting_not_mirrored", error_type=type(error).__name__, error=str(error))
                del done[row.seq]
        return done

    async def _delete_erased(self, js: JetStreamContext, published: dict[int, PubAck]) -> None:
        """Events erased between their read and their dequeue (SQLite: an account's or a provider's
        erasure ran in between) were published after that erasure purged the stream: delete those messages."""
        for ack in published.values():
            try:
                await js.delete_msg(STREAM, ack.seq)
            except Exception as error:
                log.warning("relay_erased_message_not_deleted", error_type=type(error).__name__, error=str(error))

    async def _measure_lag(self) -> None:
        try:
            async with self._database.transaction(write=False) as uow:
                oldest = await self._repository.oldest_pending_at(uow)
        except Exception:  # the database is away: the last value stands
            return
        self.lag.set(0.0 if oldest is None else max(0.0, time.time() - oldest.timestamp()))


def _naming(field: str, provider: str) -> Callable[[bytes], bool]:
    """Whether a mirrored envelope's payload names `provider` in `field`."""

    def matches(data: bytes) -> bool:
        return bool(orjson.loads(data)["payload"].get(field) == provider)

    return matches


class RelayIncomplete(Exception):
    """Some events of a batch got no ack (NATS away or slow): they stay queued and are retried."""
