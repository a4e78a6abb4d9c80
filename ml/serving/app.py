"""Composition root of the ML sidecar: `oo ml serve` runs it as its own process.

The same `MlEngine` the api process runs in process, behind `POST /generate`, `/rank`, `/feedback`.
The sidecar holds no per-user state: it arrives in each request and leaves in the response.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel

from ml.serving.engine import MlEngine
from ml.serving.llm import LlmOutcomes
from oo_contracts.knowledge import LearnedRequest, LearnedResponse
from oo_contracts.recommendation import (
    FeedbackUpdate,
    GenerateRequest,
    GenerateResponse,
    PolicyStateResponse,
    RankRequest,
    RankResponse,
)


class LlmOutcomeCollector(Collector):
    """The tip-generator's outcomes (ok / timeout / error / invalid_json / nothing_valid) and the
    tips its validation dropped, by reason."""

    def __init__(self, outcomes: LlmOutcomes) -> None:
        self.outcomes = outcomes

    def collect(self) -> Iterator[Metric]:
        generations = CounterMetricFamily("oo_ml_llm_generations", "LLM generations by outcome.", labels=["outcome"])
        for outcome, count in self.outcomes.counts.items():
            generations.add_metric([outcome], count)
        dropped = CounterMetricFamily("oo_ml_llm_tips_dropped", "LLM tips refused by validation.", labels=["reason"])
        for reason, count in self.outcomes.dropped.items():
            dropped.add_metric([reason], count)
        yield generations
        yield dropped


class Health(BaseModel):
    status: str
    checks: list[str] = []


def create_ml_app(engine: MlEngine | None = None) -> FastAPI:
    engine = engine or MlEngine()
    registry = CollectorRegistry()
    calls = Counter("oo_ml_calls_total", "ML calls by endpoint.", ["endpoint"], registry=registry)
    if engine.llm is not None:
        registry.register(LlmOutcomeCollector(engine.llm.outcomes))
    app = FastAPI(title="oO ML serving", version="0.1.0")

    @app.get("/health", response_model=Health)
    async def health() -> Health:
        return Health(status="ok")

    @app.get("/ready", response_model=Health)
    async def ready() -> Health:
        return Health(status="ready", checks=[f"policy:{engine.policy.version}"])

    @app.post("/generate", response_model=GenerateResponse)
    async def generate(request: GenerateRequest) -> GenerateResponse:
        calls.labels("generate").inc()
        return await engine.generate(request)

    @app.post("/rank", response_model=RankResponse)
    async def rank(request: RankRequest) -> RankResponse:
        calls.labels("rank").inc()
        return await engine.rank(request)

    @app.post("/feedback", response_model=PolicyStateResponse)
    async def feedback(request: FeedbackUpdate) -> PolicyStateResponse:
        calls.labels("feedback").inc()
        return await engine.feedback(request)

    @app.post("/learned", response_model=LearnedResponse)
    async def learned(request: LearnedRequest) -> LearnedResponse:
        calls.labels("learned").inc()
        return await engine.learned(request)

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
