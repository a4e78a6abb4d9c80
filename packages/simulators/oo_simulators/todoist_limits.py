"""Todoist's request limit, and the faults a test injects in front of the API."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from oo_simulators.todoist_state import ApiError

FAULT_STATUSES = (429, 500, 502, 503)


@dataclass(frozen=True)
class RateLimit:
    """Requests per token per sliding window; Todoist documents 1000 per 15 minutes per user."""

    requests: int = 1000
    window_seconds: float = 900.0


@dataclass
class Fault:
    """The next `remaining` API calls fail with `status`, or wait `delay_seconds` before being served."""

    remaining: int
    status: int | None = None
    delay_seconds: float = 0.0
    retry_after: int = 1


class RequestCounter:
    """Each token's requests in the current window; over the limit, a 429 that says when to retry."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._seen: dict[str, deque[datetime]] = {}

    def clear(self, limit: RateLimit) -> None:
        self.limit = limit
        self._seen.clear()

    def count(self, token: str, now: datetime) -> None:
        window = timedelta(seconds=self.limit.window_seconds)
        seen = self._seen.setdefault(token, deque())
        while seen and seen[0] <= now - window:
            seen.popleft()
        if len(seen) >= self.limit.requests:
            retry_after = max(1, math.ceil((seen[0] + window - now).total_seconds()))
            raise ApiError(429, "Too many requests", "MAX_REQUESTS_REACHED", retry_after=retry_after)
        seen.append(now)
