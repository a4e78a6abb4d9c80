"""A small async client for the oO API, typed with the shared contracts.

A request that is safe to send again is retried on a 5xx, a 429 or a transport error, up to
`MAX_ATTEMPTS` tries, waiting as the server's `Retry-After` says or else with exponential backoff and
full jitter; then `OoRetriesExhausted`. Only deleting the account is never sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from oo_contracts.consents import Consents, ConsentsUpdate
from oo_contracts.errors import ErrorBody
from oo_contracts.events import BatchResult, Reaction, ReactionReason
from oo_contracts.export import AccountExport
from oo_contracts.recommendation import (
    FeedbackRequest,
    FeedbackResponse,
    RecommendRequest,
    RecommendResponse,
    Settings,
)

MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
# Full jitter: the n-th retry waits a random time up to BACKOFF_SECONDS · 2^(n-1), capped, so that
# clients turned away together do not come back together.
_BACKOFF = wait_random_exponential(multiplier=BACKOFF_SECONDS, max=MAX_BACKOFF_SECONDS)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class OoApiError(Exception):
    """A non-2xx answer; `error` is the server's ErrorBody when it sent one, `code` its code, and
    `retry_after` the seconds its `Retry-After` asked for."""

    def __init__(self, status_code: int, error: ErrorBody | None, text: str, retry_after: float | None = None) -> None:
        detail = f"{error.error.code}: {error.error.message}" if error else text[:200]
        super().__init__(f"HTTP {status_code} {detail}")
        self.status_code = status_code
        self.error = error
        self.code = error.error.code if error else None
        self.retry_after = retry_after


class OoRetriesExhausted(Exception):
    """A request that still failed at its last try; `last` (also the `__cause__`) is that try's
    `OoApiError` or `httpx.TransportError`."""

    def __init__(self, what: str, attempts: int, last: BaseException) -> None:
        super().__init__(f"{what} failed {attempts} time{'s' if attempts != 1 else ''}; the last: {last!r}")
        self.attempts = attempts
        self.last = last


def _retryable(error: BaseException) -> bool:
    if isinstance(error, httpx.TransportError):
        return True
    if not isinstance(error, OoApiError):
        return False
    # A lost race on a uniqueness constraint rolled the request back whole; the server asks for a retry.
    return error.status_code >= 500 or error.status_code == 429 or error.code == "concurrent_change"


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, OoApiError) and error.retry_after is not None:
        return error.retry_after
    return _BACKOFF(state)


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` as seconds from now: it may be given as seconds or as an HTTP date."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


class OoClient:
    """`async with OoClient("http://127.0.0.1:8000", token) as oo: await oo.post_events([...])`.

    Without a token it acts as the local user (local mode, same machine only). `attempts` bounds the
    tries of a retried request; `sleep` is how it waits between them.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        attempts: int = MAX_ATTEMPTS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, transport=transport, timeout=30)
        self._attempts = attempts
        self._sleep = sleep

    async def __aenter__(self) -> OoClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def me(self) -> dict[str, Any]:
        return dict((await self._request("GET", "/v1/me")).json())

    async def post_events(self, events: Sequence[dict[str, Any]]) -> BatchResult:
        """Post up to 500 events (dicts shaped as the API's `IncomingEvent`). Each carries its id, so a
        retry after a lost answer stores nothing twice (the ids come back in `already_known`)."""
        response = await self._request("POST", "/v1/events", json={"events": list(events)})
        return BatchResult.model_validate_json(response.content)

    async def recommend(self, request: RecommendRequest | None = None) -> RecommendResponse:
        """The one tip now (or `tip=None` with `retry_after` when silence wins). The server holds the
        answer it gave until a reaction, so a retry after a lost answer gets the same decision."""
        body = (request or RecommendRequest()).model_dump(mode="json", exclude_none=True)
        return RecommendResponse.model_validate_json((await self._request("POST", "/v1/recommend", json=body)).content)

    async def feedback(
        self, decision_id: UUID, reaction: Reaction, reason: ReactionReason | None = None
    ) -> FeedbackResponse | None:
        """React to a decision. `None` when a retry finds the decision already reacted to: an earlier
        try got through and only its answer was lost. A first try that finds it so raises a 409."""
        body = FeedbackRequest(decision_id=decision_id, reaction=reaction, reason=reason)
        tries = 0

        async def send() -> httpx.Response | None:
            nonlocal tries
            tries += 1
            try:
                return await self._send("POST", "/v1/feedback", json=body.model_dump(mode="json", exclude_none=True))
            except OoApiError as error:
                if tries > 1 and error.code == "already_reacted":
                    return None
                raise

        response = await self._retried("POST /v1/feedback", send)
        return None if response is None else FeedbackResponse.model_validate_json(response.content)

    async def settings(self) -> Settings:
        return Settings.model_validate_json((await self._request("GET", "/v1/me/settings")).content)

    async def consents(self) -> Consents:
        """Where each purpose stands, with the text (and its version) to show the person."""
        return Consents.model_validate_json((await self._request("GET", "/v1/me/consents")).content)

    async def set_consents(self, update: ConsentsUpdate) -> Consents:
        """Grant or withdraw purposes, each answered with the text version the person was shown. Safe to
        retry: an answer already recorded alike records nothing."""
        body = update.model_dump(mode="json")
        return Consents.model_validate_json((await self._request("PUT", "/v1/me/consents", json=body)).content)

    async def export(self) -> AccountExport:
        return AccountExport.model_validate_json((await self._request("GET", "/v1/me/export")).content)

    async def delete_account(self) -> UUID:
        """Delete the account; returns the deletion receipt's id. Never retried: a replay after a lost
        answer would find the account gone (401), or in local mode make a new person and delete that."""
        return UUID((await self._send("DELETE", "/v1/me")).json()["receipt_id"])

    async def deletion_status(self, receipt_id: UUID) -> str:
        return str((await self._request("GET", f"/v1/deletion-receipts/{receipt_id}")).json()["status"])

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self._retried(f"{method} {path}", partial(self._send, method, path, **kwargs))

    async def _retried(self, what: str, send: Callable[[], Awaitable[T]]) -> T:
        """`send` must be a coroutine function (or a partial of one): tenacity awaits only what it
        recognises as one."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts), wait=_wait, retry=retry_if_exception(_retryable), sleep=self._sleep
        )
        try:
            return await retrying(send)
        except RetryError as gave_up:
            last = gave_up.last_attempt.exception()
            assert last is not None  # only a failed try is retried
            raise OoRetriesExhausted(what, gave_up.last_attempt.attempt_number, last) from last

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self._http.request(method, path, **kwargs)
        if response.is_success:
            return response
        try:
            error: ErrorBody | None = ErrorBody.model_validate_json(response.content)
        except ValueError:
            error = None
        raise OoApiError(response.status_code, error, response.text, _retry_after(response))
