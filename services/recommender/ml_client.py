"""The ML port over HTTP (when OO_ML_URL is set): the same contract as in process."""

from __future__ import annotations

from typing import TypeVar

import httpx
from httpx import USE_CLIENT_DEFAULT
from httpx._client import UseClientDefault
from pydantic import BaseModel

from oo_contracts.knowledge import LearnedRequest, LearnedResponse
from oo_contracts.recommendation import (
    FeedbackUpdate,
    GenerateRequest,
    GenerateResponse,
    PolicyStateResponse,
    RankRequest,
    RankResponse,
)
from services.kernel.errors import Unavailable

Response = TypeVar("Response", bound=BaseModel)


class HttpMl:
    """Implements `MlPort` against `ml/serving` over HTTP."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        llm_timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self._llm_timeout = llm_timeout

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        # Generating with the LLM (background only) waits for the model, and one retry of it.
        wait = self._llm_timeout if request.llm else USE_CLIENT_DEFAULT
        return await self._call("/generate", request, GenerateResponse, wait=wait)

    async def rank(self, request: RankRequest) -> RankResponse:
        return await self._call("/rank", request, RankResponse)

    async def feedback(self, request: FeedbackUpdate) -> PolicyStateResponse:
        return await self._call("/feedback", request, PolicyStateResponse)

    async def learned(self, request: LearnedRequest) -> LearnedResponse:
        return await self._call("/learned", request, LearnedResponse)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        path: str,
        request: BaseModel,
        response_type: type[Response],
        *,
        wait: float | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Response:
        try:
            response = await self._http.post(
                path, content=request.model_dump_json(), headers={"content-type": "application/json"}, timeout=wait
            )
            response.raise_for_status()
            return response_type.model_validate_json(response.content)
        except (httpx.HTTPError, ValueError) as error:
            raise Unavailable(
                f"the ML sidecar failed on {path}: {type(error).__name__}", code="ml_unavailable"
            ) from error
