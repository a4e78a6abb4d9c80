"""The HTTP client the Todoist SDK runs on: Todoist's origins, oO's timeouts, and retries of what may
be retried.

The SDK addresses Todoist's public origins (`https://api.todoist.com`, `https://todoist.com`). The
transport sends those requests to the configured ones instead (a simulator's in tests and demos,
Todoist's own by default) and gives each request oO's timeout rather than the SDK's 60 s.

Every client runs on one connection pool per library, built once: a new pool per call would load the
CA bundle into a fresh TLS context each time (most of a one-task refresh's CPU, measured) and open a
new connection, with its TLS handshake, for every request.
"""

from __future__ import annotations

import email.utils
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import httpx2
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

TODOIST_API = "https://api.todoist.com"
TODOIST_OAUTH = "https://todoist.com/oauth"
ATTEMPTS = 3
LONGEST_RETRY_AFTER_SECONDS = 30.0  # a longer wait than this is the next scheduled refresh's business

T = TypeVar("T")


class _Origins:
    """Routes requests for a provider's public origins to the configured ones, each with one timeout."""

    def __init__(self, origins: Mapping[str, str], timeout: float, inner: Any, sent: Callable[[], None]) -> None:
        self._origins = {public: httpx.URL(target) for public, target in origins.items()}
        self._timeout = httpx.Timeout(timeout).as_dict()
        self._inner = inner
        self._sent = sent

    async def handle_async_request(self, request: Any) -> Any:
        self._sent()
        target = self._origins.get(f"{request.url.scheme}://{request.url.host}")
        if target is not None:
            request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
            request.headers["Host"] = request.url.netloc.decode("ascii")
        request.extensions["timeout"] = self._timeout
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """A client closing (the SDK closes the one it is given) leaves the shared pool open."""


class ProviderOrigins(_Origins, httpx.AsyncBaseTransport):
    """For the SDK, on `httpx`."""


class OAuthOrigins(_Origins, httpx2.AsyncBaseTransport):
    """For Authlib's OAuth client, which runs on `httpx2` (httpx's successor) where it is installed."""


@dataclass(frozen=True)
class Transports:
    """A transport for each client over the two shared pools; `aclose` closes the pools, at shutdown."""

    api_url: str
    oauth_url: str
    timeout: float
    sent: Callable[[], None] = lambda: None  # counts each request to the provider
    _pool: httpx.AsyncHTTPTransport = field(default_factory=httpx.AsyncHTTPTransport, repr=False, compare=False)
    _oauth_pool: httpx2.AsyncHTTPTransport = field(default_factory=httpx2.AsyncHTTPTransport, repr=False, compare=False)

    def _origins(self) -> dict[str, str]:
        # The SDK's calls name Todoist's origins; oO's own OAuth calls name the configured URLs already.
        return {TODOIST_API: _origin(self.api_url), _origin(TODOIST_OAUTH): _origin(self.oauth_url)}

    def sdk(self) -> ProviderOrigins:
        return ProviderOrigins(self._origins(), self.timeout, self._pool, self.sent)

    def oauth(self) -> OAuthOrigins:
        return OAuthOrigins(self._origins(), self.timeout, self._oauth_pool, self.sent)

    async def aclose(self) -> None:
        await self._pool.aclose()
        await self._oauth_pool.aclose()


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"


def is_transient(error: BaseException) -> bool:
    """No answer, a 5xx or a 429: worth another try. A 4xx otherwise is the request's fault, or the grant's."""
    if isinstance(error, httpx.HTTPStatusError):
        status = error.response.status_code
        return status == 429 or status >= 500
    return isinstance(error, httpx.TransportError)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The wait a 429 or 503 asks for: its `Retry-After` header (seconds or an HTTP date), else Todoist's
    `error_extra.retry_after`."""
    header = response.headers.get("Retry-After")
    if header is not None:
        if header.strip().isdigit():
            return float(header)
        moment = email.utils.parsedate_to_datetime(header) if header else None
        if moment is not None:
            return max(0.0, (moment - datetime.now(UTC)).total_seconds())
    try:
        extra = response.json().get("error_extra") or {}
        return float(extra["retry_after"]) if "retry_after" in extra else None
    except (ValueError, AttributeError, TypeError):
        return None


def _wait(retry_state: object) -> float:
    outcome = getattr(retry_state, "outcome", None)
    error = outcome.exception() if outcome is not None else None
    if isinstance(error, httpx.HTTPStatusError):
        asked = retry_after_seconds(error.response)
        if asked is not None:
            return min(asked, LONGEST_RETRY_AFTER_SECONDS)
    return float(wait_random_exponential(multiplier=0.5, max=8)(retry_state))  # type: ignore[arg-type]


async def with_retries(call: Callable[[], Awaitable[T]]) -> T:
    """`call` again after a transient failure, honouring Retry-After, three tries in all; then its error."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_transient), stop=stop_after_attempt(ATTEMPTS), wait=_wait, reraise=True
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity reraises the last error")
