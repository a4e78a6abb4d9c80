"""Composition root of the api process: the modular monolith behind one FastAPI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from services.bootstrap import Container, bootstrap
from services.gateway.assembly import build_http_app
from services.jobs import run_periodically
from services.settings import Settings, load_settings

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    container = container or bootstrap(settings or load_settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await container.prepare_storage()
        # In the embedded default the api process also runs the worker's jobs.
        resumer = asyncio.create_task(
            run_periodically(container.profile.privacy.resume_pending, container.settings.core.deletion_resume_seconds),
            name="deletion-resumer",
        )
        log.info("api_started", database=container.database.dialect)
        try:
            yield
        finally:
            resumer.cancel()
            await asyncio.gather(resumer, return_exceptions=True)
            await container.close()

    app = build_http_app(
        settings=container.settings.gateway,
        database=container.database,
        identity=container.auth.identity,
        metrics=container.metrics,
        routers=[
            container.auth.router(),
            container.events.router(),
            container.recommender.router(),
            container.profile.router(),
        ],
        readiness=container.readiness(),
        lifespan=lifespan,
    )
    app.state.container = container
    return app
