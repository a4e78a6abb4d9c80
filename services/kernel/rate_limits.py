"""Rate limits on the endpoints where credentials are tried or traded (login, token, refresh).

The counting is the `limits` library's moving window, kept in the api process's memory: each process
counts what reaches it, so with N api processes a client gets at most N times the limit — the limit
bounds guessing and floods, not a quota anyone is billed by. The key is the client's address as the
ASGI server reports it (behind a proxy, put the proxy's address in `FORWARDED_ALLOW_IPS`, which `oo
serve`'s uvicorn reads, so that it is the client's from `X-Forwarded-For` and not the proxy's).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from services.kernel.errors import TooManyRequests

CREDENTIALS = "credentials"  # the group of every endpoint where credentials are tried or traded
DEFAULT_CREDENTIAL_LIMITS = "20/minute;200/hour"


def parse_limits(text: str) -> list[RateLimitItem]:
    """`"20/minute;200/hour"` as limits, each of which a client must stay within; ValueError otherwise."""
    try:
        parsed = parse_many(text)
    except ValueError as error:
        raise ValueError(f"{text!r} is not a list of rates such as '20/minute;200/hour': {error}") from None
    if any(item.amount < 1 for item in parsed):
        raise ValueError(f"{text!r} allows no try at all: each rate needs at least 1")
    return parsed


class RateLimiter:
    """Named groups of limits; `guard(name)` is a FastAPI dependency that answers 429 past any of them."""

    def __init__(self, groups: dict[str, str]) -> None:
        self._groups = {name: parse_limits(text) for name, text in groups.items()}
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def guard(self, name: str) -> Callable[[Request], Awaitable[None]]:
        limits = self._groups[name]

        async def rate_limited(request: Request) -> None:
            self._hit(name, limits, request.client.host if request.client else "unknown")

        return rate_limited

    def _hit(self, name: str, limits: list[RateLimitItem], client: str) -> None:
        """Count one try by `client`; TooManyRequests, with the seconds until it may try again, past a limit.
        A refused try is not counted, so waiting as told is always enough."""
        for limit in limits:
            if not self._limiter.test(limit, name, client):
                reset, _ = self._limiter.get_window_stats(limit, name, client)
                wait = max(1, math.ceil(reset - time.time()))  # the library's clock
                raise TooManyRequests("too many tries; wait before trying again", retry_after=wait)
        for limit in limits:
            self._limiter.hit(limit, name, client)
