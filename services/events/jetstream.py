"""The connection to NATS JetStream, the stream the outbox is mirrored to, and its subjects (ADR 0031).

Subjects are `oo.user.<user id>.<event type>`, so everything of one person is `oo.user.<user id>.>`:
account deletion purges exactly that. Nothing connects until the first use.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from services.events.settings import RelaySettings

STREAM = "OO_EVENTS"
SUBJECT_PREFIX = "oo.user"
# A user id or an event type's part must be a literal token: a `.`, `*` or `>` in a user id would make
# one person's purge filter match another's subjects.
_USER_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TYPE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")

FIRST_CONNECT_SECONDS = 5.0
PING_SECONDS = 1  # nats-py takes whole seconds here

log = structlog.get_logger(__name__)


def subject(user_id: str, event_type: str) -> str:
    """Where an event of `user_id` is published."""
    if not _USER_TOKEN.fullmatch(user_id) or not _TYPE.fullmatch(event_type):
        raise ValueError("a user id or event type that is not a plain subject token")
    return f"{SUBJECT_PREFIX}.{user_id}.{event_type}"


def user_filter(user_id: str) -> str:
    """Every subject of `user_id`'s events."""
    if not _USER_TOKEN.fullmatch(user_id):
        raise ValueError("a user id that is not a plain subject token")
    return f"{SUBJECT_PREFIX}.{user_id}.>"


def subject_filter(user_id: str | None, event_type: str | None) -> str:
    """The subjects of `user_id`'s events (anyone's if None) of `event_type` (any type if None). A type
    spans several tokens (`profile.checkin_recorded.v2`), so "any type" is `>`, never `*`."""
    if (user_id is not None and not _USER_TOKEN.fullmatch(user_id)) or (
        event_type is not None and not _TYPE.fullmatch(event_type)
    ):
        raise ValueError("a user id or event type that is not a plain subject token")
    person = "*" if user_id is None else user_id
    return f"{SUBJECT_PREFIX}.{person}.{'>' if event_type is None else event_type}"


def message_id(user_id: str, event_id: object) -> str:
    """The `Nats-Msg-Id` of an event: an event id is unique per person (ADR 0018), so the person is part of it."""
    return f"{user_id}:{event_id}"


def stream_config(settings: RelaySettings) -> StreamConfig:
    return StreamConfig(
        name=STREAM,
        description="oO's events, mirrored from the outbox (events_store) by the worker's relay",
        subjects=[f"{SUBJECT_PREFIX}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=float(settings.stream_max_age_seconds),
        max_bytes=settings.stream_max_bytes,
        duplicate_window=float(settings.duplicate_window_seconds),
    )


class JetStreamLink:
    """One NATS connection per process, made on first use, with the stream created or updated to the
    configured limits. It reconnects forever: the outbox keeps every event while NATS is away."""

    section = "jetstream"  # a deletion's step, recorded on its receipt

    def __init__(self, settings: RelaySettings) -> None:
        if not settings.nats_url:
            raise ValueError("NATS_URL is not set")
        self._settings = settings
        self._url = settings.nats_url
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()

    async def jetstream(self) -> JetStreamContext:
        """The JetStream context, connecting and ensuring the stream if this is the first use."""
        if self._js is not None:
            return self._js
        async with self._lock:
            if self._js is None:
                client = self._client or await _connect(self._url)
                self._client = client
                js = client.jetstream(timeout=self._settings.ack_timeout_seconds)
                await ensure_stream(js, stream_config(self._settings))
                self._js = js
        return self._js

    async def connected(self) -> JetStreamContext:
        """The context, only while the connection is up. A request made while the client reconnects
        waits out its whole timeout; one that must answer a person now fails at once instead, or after
        a ping's round trip when the server went away unnoticed."""
        js = await self.jetstream()
        if self._client is None or not self._client.is_connected:
            raise ConnectionError("NATS is not connected")
        await self._client.flush(timeout=PING_SECONDS)
        return js

    async def purge_user(self, user_id: str) -> None:
        """Remove every message of `user_id` from the stream (idempotent; nothing to do if it has none)."""
        js = await self.jetstream()
        try:
            await js.purge_stream(STREAM, subject=user_filter(user_id))
        except NotFoundError:
            return

    async def delete_matching(
        self, user_id: str, event_type: str, before: int, matches: Callable[[bytes], bool]
    ) -> int:
        """Delete `user_id`'s messages of `event_type` stored before stream sequence `before` whose data
        `matches`; returns how many. One message is read at a time, by subject, so the person's other
        messages are never read."""
        js = await self.jetstream()
        wanted = subject(user_id, event_type)
        deleted, seq = 0, 1
        while seq < before:
            try:
                message = await js.get_msg(STREAM, seq=seq, subject=wanted, next=True)
            except NotFoundError:
                break
            found = message.seq or before  # a stored message always has its sequence
            if found >= before:
                break
            if matches(message.data or b""):
                await js.delete_msg(STREAM, found)
                deleted += 1
            seq = found + 1
        return deleted

    async def close(self) -> None:
        if self._client is not None and not self._client.is_closed:
            await self._client.close()
        self._client = None
        self._js = None


async def _connect(url: str) -> Client:
    client = Client()
    # Reconnects forever once connected; a first connection that finds nobody gives up after a bound
    # (with unlimited attempts nats-py would keep trying inside connect()), and the caller retries.
    connecting = client.connect(
        url,
        name="oo",
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,  # type: ignore[arg-type]  # seconds; annotated int, used as a float
        connect_timeout=2,
        error_cb=_log_error,
        disconnected_cb=_log_disconnected,
        reconnected_cb=_log_reconnected,
    )
    try:
        await asyncio.wait_for(connecting, timeout=FIRST_CONNECT_SECONDS)
    except BaseException:
        await client.close()
        raise
    return client


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to `config` (limits changed in settings take effect)."""
    try:
        await js.stream_info(str(config.name))
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except BadRequestError:  # another process created it first
            pass
    await js.update_stream(config)


async def _log_error(error: Exception) -> None:
    log.warning("nats_error", error_type=type(error).__name__, error=str(error))


async def _log_disconnected(*_: Any) -> None:
    log.warning("nats_disconnected")


async def _log_reconnected(*_: Any) -> None:
    log.info("nats_reconnected")
