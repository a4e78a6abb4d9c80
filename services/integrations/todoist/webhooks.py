"""Todoist's webhook deliveries: verified over the raw body, taken once, and only ever a hint.

A delivery says that something changed for an account; oO then reads that person's tasks again. Its
body is never stored nor folded in: a forged one fails the signature, and a replayed one (same
`X-Todoist-Delivery-ID`) was taken already.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from services.integrations.provider_store import WebhookDeliveries
from services.integrations.service import ConnectionService
from services.kernel.unit_of_work import UnitOfWork

PROVIDER = "todoist"
TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,48}")
DELIVERIES_KEPT = timedelta(days=7)  # Todoist retries within an hour; a week covers any replay worth refusing
Verdict = Literal["forged", "replayed", "malformed", "taken"]


def signature_holds(secret: str, raw_body: bytes, header: str | None) -> bool:
    """`X-Todoist-Hmac-SHA256` is base64(HMAC-SHA256(client_secret, raw body)), compared in constant time."""
    if not header:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, header.strip())


class TodoistWebhooks:
    def __init__(self, connections: ConnectionService) -> None:
        self._connections = connections
        self._deliveries = WebhookDeliveries()

    async def take(
        self, uow: UnitOfWork, *, secret: str, raw_body: bytes, signature: str | None, delivery_id: str | None
    ) -> tuple[Verdict, list[str], str | None]:
        """The verdict on a delivery and, when taken, the people whose tasks to read again, and the task
        it names, if any (`item:*`): which one to read, never what it is."""
        if not signature_holds(secret, raw_body, signature):
            return "forged", [], None
        if not delivery_id or len(delivery_id) > 128:
            return "malformed", [], None
        try:
            body = json.loads(raw_body)
            account = str(body["user_id"])
            named = (
                body.get("event_data", {}).get("id") if str(body.get("event_name", "")).startswith("item:") else None
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return "malformed", [], None
        task_id = named if isinstance(named, str) and TASK_ID.fullmatch(named) else None
        now = datetime.now(UTC)
        if not await self._deliveries.first_time(uow, PROVIDER, delivery_id, now):
            return "replayed", [], None
        await self._deliveries.prune(uow, now - DELIVERIES_KEPT)
        return "taken", await self._connections.people_with_account(uow, PROVIDER, account), task_id
