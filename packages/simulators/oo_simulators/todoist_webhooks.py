"""Webhook deliveries as Todoist sends them: a signed POST per event to the app's callback URL, retried
on any answer but 200, at most three attempts, each attempt with the same delivery id and body.

Todoist waits 15 minutes between attempts; tests pass a shorter `retry_seconds`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

MAX_ATTEMPTS = 3


def signature(client_secret: str, body: bytes) -> str:
    """`X-Todoist-Hmac-SHA256`: base64 of HMAC-SHA256 over the raw body, keyed with the app's secret."""
    return base64.b64encode(hmac.new(client_secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Attempt:
    at: str
    status: int | None
    error: str | None = None


@dataclass
class Delivery:
    id: str
    url: str
    client_id: str
    event_name: str
    user_id: str
    body: bytes
    signature: str
    attempts: list[Attempt] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "delivery_id": self.id,
            "url": self.url,
            "client_id": self.client_id,
            "event_name": self.event_name,
            "user_id": self.user_id,
            "body": self.body.decode(),
            "signature": self.signature,
            "attempts": [{"at": a.at, "status": a.status, "error": a.error} for a in self.attempts],
            "delivered": any(a.status == 200 for a in self.attempts),
        }


class Webhooks:
    """Sends deliveries in the background of the loop that serves the simulator."""

    def __init__(self, url: str | None, retry_seconds: float, clock: Callable[[], datetime]) -> None:
        self.url = url
        self.retry_seconds = retry_seconds
        self._clock = clock
        self.deliveries: dict[str, Delivery] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    def send(self, client_id: str, client_secret: str, user_id: str, payload: dict[str, Any]) -> Delivery | None:
        if self.url is None:
            return None
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery = Delivery(
            id=str(uuid.uuid4()),
            url=self.url,
            client_id=client_id,
            event_name=str(payload["event_name"]),
            user_id=user_id,
            body=body,
            signature=signature(client_secret, body),
        )
        self.deliveries[delivery.id] = delivery
        self._start(delivery, MAX_ATTEMPTS)
        return delivery

    def replay(self, delivery_id: str) -> Delivery | None:
        delivery = self.deliveries.get(delivery_id)
        if delivery is not None:
            self._start(delivery, 1)
        return delivery

    def _start(self, delivery: Delivery, attempts: int) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(delivery, attempts))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _deliver(self, delivery: Delivery, attempts: int) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Todoist-Webhooks",
            "X-Todoist-Hmac-SHA256": delivery.signature,
            "X-Todoist-Delivery-ID": delivery.id,
        }
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.retry_seconds)
            at = self._clock().isoformat()
            try:
                response = await self._client.post(delivery.url, content=delivery.body, headers=headers)
            except httpx.HTTPError as error:
                delivery.attempts.append(Attempt(at, None, f"{type(error).__name__}: {error}"))
                continue
            delivery.attempts.append(Attempt(at, response.status_code))
            if response.status_code == 200:
                return

    async def settle(self, seconds: float) -> None:
        """Wait, at most `seconds`, for the deliveries under way (their retries included) to end."""
        if self._running:
            await asyncio.wait(list(self._running), timeout=seconds)

    async def reset(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self.deliveries.clear()

    async def aclose(self) -> None:
        await self.reset()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
