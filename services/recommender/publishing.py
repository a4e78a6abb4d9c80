"""The recommender's events, each published in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from oo_contracts.events import envelope
from services.kernel.ports import EventPublisher
from services.kernel.unit_of_work import UnitOfWork


async def publish_one(
    publisher: EventPublisher, uow: UnitOfWork, event_type: str, user_id: str, now: datetime, payload: Any
) -> None:
    event = envelope(
        event_id=uuid.uuid4(),
        event_type=event_type,
        user_id=user_id,
        occurred_at=now,
        source="recommender",
        payload=payload,
    )
    await publisher.publish(uow, [event])
