"""Composition root of the worker process: scheduled jobs, plus /health, /ready and /metrics.

It resumes interrupted account deletions and, when NATS_URL is set, relays the outbox to JetStream
(`oo_relay_lag_seconds` and `oo_relay_published_total` on /metrics).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.bootstrap import Container, bootstrap
from services.jobs import run_periodically
from services.kernel.database import CHECKPOINT_EVERY_SECONDS
from services.kernel.error_handlers import install_error_handlers
from services.kernel.health import health_router
from services.settings import Settings, load_settings


def create_worker_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    container = container or bootstrap(settings or load_settings())
    relay = container.events.relay(container.database, container.metrics.registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await container.prepare_storage()
        jobs = [
            asyncio.create_task(
                run_periodically(
                    container.profile.privacy.resume_pending, container.settings.core.deletion_resume_seconds
                )
            ),
            asyncio.create_task(run_periodically(container.database.checkpoint, CHECKPOINT_EVERY_SECONDS)),
        ]
        if relay is not None:
            jobs.append(asyncio.create_task(relay.run(), name="outbox-relay"))
        try:
            yield
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            await container.close()

    app = FastAPI(title="oO worker", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(container.readiness(), container.metrics))
    app.state.container = container
    app.state.relay = relay
    return app
