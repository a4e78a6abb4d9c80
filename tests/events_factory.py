"""Event bodies as a client would post them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
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


@cache
def daytime_zone() -> str:
    """A fixed-offset IANA zone in which it is about noon, whenever the suite runs.

    The rules offer little late at night by design, so a test about what is offered by day sets its
    person (and its browser) in a zone where it is day rather than depend on the hour the machine runs
    it. Chosen once per test process, so that every person and page of a run share one zone.
    """
    return zone_at_noon(datetime.now(UTC))


def zone_at_noon(now: datetime) -> str:
    offset = 12 - now.hour  # -11..12, all of which Etc/GMT names
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # POSIX signs: Etc/GMT-3 is UTC+3


def context(timezone: str = "Europe/Berlin", device: str = "phone") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "recommender.context_observed.v1",
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "web",
        "payload": {"timezone": timezone, "device_class": device},
    }
