"""Composition root of the ML sidecar: `oo ml serve` runs it as its own process.

/generate, /rank and /feedback arrive with the core loop; the process shape is fixed now.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from pydantic import BaseModel


class Health(BaseModel):
    status: str
    checks: list[str] = []


def create_ml_app() -> FastAPI:
    registry = CollectorRegistry()
    health_checks = Counter("oo_ml_health_checks_total", "Health probes answered.", registry=registry)
    app = FastAPI(title="oO ML serving", version="0.1.0")

    @app.get("/health", response_model=Health)
    async def health() -> Health:
        health_checks.inc()
        return Health(status="ok")

    @app.get("/ready", response_model=Health)
    async def ready() -> Health:
        # Nothing to load yet: no policy state or model lives in this process until the core loop.
        return Health(status="ready", checks=[])

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
