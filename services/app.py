"""Composition root of the api process: the modular monolith behind one FastAPI app."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from services.bootstrap import Container, bootstrap
from services.gateway.assembly import build_http_app
from services.jobs import run_periodically
from services.kernel.database import CHECKPOINT_EVERY_SECONDS
from services.settings import ConfigurationError, Settings, load_settings

log = structlog.get_logger(__name__)


async def _ensure_local_user(container: Container) -> None:
    """Make the local user now, in a write transaction, so that a first GET never has to write.

    Storage that is not ready yet must not stop start-up: `/ready` reports it, and the first request
    makes the user instead.
    """
    try:
        async with container.database.transaction() as uow:
            await container.auth.identity.local_principal(uow)
    except (SQLAlchemyError, OSError):
        log.warning("local_user_deferred", reason="storage not ready")


NO_JOBS_ON_SQLITE = (
    "OO_EMBEDDED_JOBS=false needs DATABASE_URL=postgresql://…: on SQLite jobs wait inside the api process, "
    "so with its jobs off nothing would ever run them"
)


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    container = container or bootstrap(settings or load_settings())
    embedded_jobs = container.settings.jobs.embedded_jobs
    if not embedded_jobs and container.database.dialect != "postgresql":
        raise ConfigurationError(NO_JOBS_ON_SQLITE)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await container.prepare_storage()
        if container.settings.gateway.local_mode:
            await _ensure_local_user(container)
        # What start-up built (modules, schemas, compiled statements) lives as long as the process; out
        # of the collector's sight, a full collection walks only what serving made since. Walking all of
        # it, ~190k objects, stopped the loop for 100–140 ms every ~10 s at 100 req/s.
        gc.collect()
        gc.freeze()
        gateway = container.settings.gateway
        stop_metrics = (
            container.metrics.listen(gateway.metrics_host, gateway.metrics_port) if gateway.metrics_port else None
        )
        # In the embedded default the api process also runs the worker's jobs; with them off it only defers.
        if embedded_jobs:
            await container.jobs.start()
        tasks = [
            asyncio.create_task(
                run_periodically(container.database.checkpoint, CHECKPOINT_EVERY_SECONDS), name="sqlite-checkpoint"
            )
        ]
        log.info("api_started", database=container.database.dialect, embedded_jobs=embedded_jobs)
        try:
            yield
        finally:
            if stop_metrics is not None:
                await asyncio.to_thread(stop_metrics)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
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
            container.integrations.router(),
            container.calendars.router(),
        ],
        readiness=container.readiness(),
        lifespan=lifespan,
    )
    app.state.container = container
    return app
