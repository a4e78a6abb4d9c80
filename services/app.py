"""Composition root of the api process: the modular monolith behind one FastAPI app."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import structlog
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from services.bootstrap import Container, bootstrap
from services.gateway.assembly import build_http_app
from services.jobs import run_periodically
from services.kernel.database import CHECKPOINT_EVERY_SECONDS
from services.settings import Settings, load_settings

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


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    container = container or bootstrap(settings or load_settings())

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
        # In the embedded default the api process also runs the worker's jobs.
        jobs = [
            asyncio.create_task(
                run_periodically(
                    container.profile.privacy.resume_pending, container.settings.core.deletion_resume_seconds
                ),
                name="deletion-resumer",
            ),
            asyncio.create_task(
                run_periodically(container.database.checkpoint, CHECKPOINT_EVERY_SECONDS), name="sqlite-checkpoint"
            ),
            asyncio.create_task(
                run_periodically(
                    container.calendars.refresh_connected, container.settings.calendar.calendar_refresh_seconds
                ),
                name="calendar-refresh",
            ),
        ]
        if container.integrations.todoist is not None:
            jobs.append(
                asyncio.create_task(
                    run_periodically(
                        partial(container.integrations.view.refresh_everyone, ["todoist"]),
                        container.settings.todoist.refresh_seconds,
                    ),
                    name="todoist-refresh",
                )
            )
        log.info("api_started", database=container.database.dialect)
        try:
            yield
        finally:
            if stop_metrics is not None:
                await asyncio.to_thread(stop_metrics)
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
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
