"""Event bodies as a client would post them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any


def checkin(
    energy: int = 3, mood: int = 4, *, event_id: str | None = None, at: datetime | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or str(uuid.uuid4()),
        "type": "profile.checkin_recorded.v1",
        "occurred_at": (at or datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "payload": {"energy": energy, "mood": mood},
    }


def context(timezone: str = "Europe/Berlin", device: str = "phone") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "recommender.context_observed.v1",
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "web",
        "payload": {"timezone": timezone, "device_class": device},
    }
