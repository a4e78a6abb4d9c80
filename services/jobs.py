"""Scheduled work shared by the api process (embedded default) and the worker process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


async def run_periodically(job: Callable[[], Awaitable[object]], every_seconds: float) -> None:
    """Run `job` now and then every `every_seconds`, until cancelled; a failed run is logged, not fatal."""
    while True:
        try:
            await job()
        except Exception:
            log.exception("scheduled_job_failed", job=getattr(job, "__qualname__", repr(job)))
        await asyncio.sleep(every_seconds)
