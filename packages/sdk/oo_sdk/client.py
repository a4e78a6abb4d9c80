"""A small async client for the oO API, typed with the shared contracts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import httpx

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


class OoApiError(Exception):
    """A non-2xx answer; `error` is the server's ErrorBody when it sent one."""

    def __init__(self, status_code: int, error: ErrorBody | None, text: str) -> None:
        detail = f"{error.error.code}: {error.error.message}" if error else text[:200]
        super().__init__(f"HTTP {status_code} {detail}")
        self.status_code = status_code
        self.error = error


class OoClient:
    """`async with OoClient("http://127.0.0.1:8000", token) as oo: await oo.post_events([...])`.

    Without a token it acts as the local user (local mode, same machine only).
    """

    def __init__(
        self, base_url: str, token: str | None = None, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, transport=transport, timeout=30)

    async def __aenter__(self) -> OoClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def me(self) -> dict[str, Any]:
        return dict((await self._request("GET", "/v1/me")).json())

    async def post_events(self, events: Sequence[dict[str, Any]]) -> BatchResult:
        """Post up to 500 events (dicts shaped as the API's `IncomingEvent`)."""
        response = await self._request("POST", "/v1/events", json={"events": list(events)})
        return BatchResult.model_validate_json(response.content)

    async def recommend(self, request: RecommendRequest | None = None) -> RecommendResponse:
        """The one tip now (or `tip=None` with `retry_after` when silence wins)."""
        body = (request or RecommendRequest()).model_dump(mode="json", exclude_none=True)
        return RecommendResponse.model_validate_json((await self._request("POST", "/v1/recommend", json=body)).content)

    async def feedback(
        self, decision_id: UUID, reaction: Reaction, reason: ReactionReason | None = None
    ) -> FeedbackResponse:
        body = FeedbackRequest(decision_id=decision_id, reaction=reaction, reason=reason)
        response = await self._request("POST", "/v1/feedback", json=body.model_dump(mode="json", exclude_none=True))
        return FeedbackResponse.model_validate_json(response.content)

    async def settings(self) -> Settings:
        return Settings.model_validate_json((await self._request("GET", "/v1/me/settings")).content)

    async def export(self) -> AccountExport:
        return AccountExport.model_validate_json((await self._request("GET", "/v1/me/export")).content)

    async def delete_account(self) -> UUID:
        """Delete the account; returns the deletion receipt's id."""
        return UUID((await self._request("DELETE", "/v1/me")).json()["receipt_id"])

    async def deletion_status(self, receipt_id: UUID) -> str:
        return str((await self._request("GET", f"/v1/deletion-receipts/{receipt_id}")).json()["status"])

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self._http.request(method, path, **kwargs)
        if response.is_success:
            return response
        try:
            error: ErrorBody | None = ErrorBody.model_validate_json(response.content)
        except ValueError:
            error = None
        raise OoApiError(response.status_code, error, response.text)
