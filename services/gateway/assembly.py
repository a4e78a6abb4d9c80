"""Builds the api process's HTTP app from the routers and ports the composition root hands over."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI

from services.gateway.api_docs import api_docs_router
from services.gateway.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from services.gateway.principal import PrincipalResolver
from services.gateway.settings import GatewaySettings
from services.gateway.web import web_router
from services.kernel.database import Database
from services.kernel.error_handlers import install_error_handlers
from services.kernel.health import ReadinessCheck, health_router
from services.kernel.http import HttpContext
from services.kernel.metrics import Metrics
from services.kernel.ports import IdentityPort

API_TITLE = "oO"
API_VERSION = "0.1.0"


def build_http_app(
    *,
    settings: GatewaySettings,
    database: Database,
    identity: IdentityPort,
    metrics: Metrics,
    routers: Sequence[APIRouter],
    readiness: Sequence[ReadinessCheck],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        description="oO: one perfectly-timed tip. Every error carries an `ErrorBody`.",
        lifespan=lifespan,
        # FastAPI's own docs pages load their scripts from a CDN: /docs is served from local files instead.
        docs_url=None,
        redoc_url=None,
    )
    resolver = PrincipalResolver(
        identity, local_mode=settings.local_mode, database=database, public_url=settings.public_url
    )
    app.state.http_context = HttpContext(
        database=database, resolve_principal=resolver, find_principal=resolver.find, refuse_early=resolver.refuse_early
    )
    install_error_handlers(app)
    app.include_router(health_router(readiness, metrics if settings.serves_metrics() else None))
    for router in routers:
        app.include_router(router)
    app.include_router(web_router())
    app.include_router(api_docs_router())
    # Outermost first: the request id and metrics see even a 413.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
