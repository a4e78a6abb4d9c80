"""Composition root of the worker process: jobs, plus /health, /ready and /metrics.

It runs the jobs of ADR 0032 — LLM refreshes, calendar and Todoist refreshes (periodic fan-outs and
webhook hints), completing tasks in Todoist, provider-token renewal, resumption of interrupted account
deletions. On Postgres these are procrastinate jobs any number of workers share (and an api with
`OO_EMBEDDED_JOBS=false` only defers). On SQLite jobs are tasks of the api process, which always runs
them: a worker there runs none, since a second copy would run one person's work twice at once. When
NATS_URL is set it also relays the outbox to JetStream (`oo_relay_lag_seconds` and
`oo_relay_published_total`). /metrics carries `oo_jobs_deferred_total`, `oo_jobs_coalesced_total` and
`oo_jobs_failed_total` by kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from services.bootstrap import Container, bootstrap
from services.jobs import run_periodically
from services.kernel.database import CHECKPOINT_EVERY_SECONDS
from services.kernel.error_handlers import install_error_handlers
from services.kernel.health import health_router
from services.settings import Settings, load_settings

log = structlog.get_logger(__name__)


def create_worker_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    container = container or bootstrap(settings or load_settings())
    relay = container.events.relay(container.database, container.metrics.registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await container.prepare_storage()
        # On SQLite the api process runs the jobs (its queue is in its memory); a copy here would run one
        # person's work twice at once.
        runs_jobs = container.database.dialect == "postgresql"
        if runs_jobs:
            await container.jobs.start()
        tasks = [asyncio.create_task(run_periodically(container.database.checkpoint, CHECKPOINT_EVERY_SECONDS))]
        if relay is not None:
            tasks.append(asyncio.create_task(relay.run(), name="outbox-relay"))
        log.info("worker_started", database=container.database.dialect, runs_jobs=runs_jobs)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await container.close()

    app = FastAPI(title="oO worker", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(container.readiness(), container.metrics))
    app.state.container = container
    app.state.relay = relay
    return app
