"""What runs as jobs (ADR 0032): the handler of each job kind and the periodic fan-outs, wired from the
modules the composition root built. Every process that runs jobs registers the same table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from oo_contracts.jobs import Job, JobKind, Jobs, PersonJob, TaskJob
from services.kernel.job_runner import JobHandler, Periodic

if TYPE_CHECKING:
    from services.bootstrap import Container

log = structlog.get_logger(__name__)


def handlers(container: Container) -> dict[JobKind, JobHandler]:
    todoist = container.integrations.todoist
    settings = container.settings
    margin = timedelta(seconds=settings.jobs.token_refresh_margin_seconds)

    async def llm_refresh(job: Job) -> None:
        if container.recommender.llm_refresher is not None:
            await container.recommender.llm_refresher.run(job)

    async def calendar_refresh(job: Job) -> None:
        await container.calendars.refresh_person(job.user_id)

    async def todoist_refresh(job: Job) -> None:
        if todoist is not None:
            await todoist.refresh(job.user_id)

    async def todoist_task_refresh(job: Job) -> None:
        if todoist is not None and isinstance(job, TaskJob):
            await todoist.refresh_task(job.user_id, job.task_id)

    async def todoist_complete(job: Job) -> None:
        if todoist is not None and isinstance(job, TaskJob):
            await todoist.complete(job.user_id, job.task_id)

    async def deletion_resume(job: Job) -> None:
        await container.profile.privacy.resume(job.user_id)

    async def token_refresh(job: Job) -> None:
        if todoist is not None:
            await todoist.renew_token(job.user_id, margin)
        await container.calendars.renew_tokens(job.user_id, margin)

    return {
        JobKind.llm_refresh: llm_refresh,
        JobKind.calendar_refresh: calendar_refresh,
        JobKind.todoist_refresh: todoist_refresh,
        JobKind.todoist_task_refresh: todoist_task_refresh,
        JobKind.todoist_complete: todoist_complete,
        JobKind.deletion_resume: deletion_resume,
        JobKind.token_refresh: token_refresh,
    }


def periodic(container: Container) -> list[Periodic]:
    jobs: Jobs = container.jobs
    settings = container.settings

    def fan_out(kind: JobKind, people: Callable[[], Awaitable[list[str]]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            for user_id in await people():
                await jobs.defer(PersonJob(kind=kind, user_id=user_id))

        return run

    entries = [
        Periodic(
            "deletion_resume",
            settings.core.deletion_resume_seconds,
            fan_out(JobKind.deletion_resume, container.profile.privacy.pending_deletions),
        ),
        Periodic(
            "calendar_refresh",
            settings.calendar.calendar_refresh_seconds,
            fan_out(JobKind.calendar_refresh, container.calendars.connected_people),
        ),
    ]
    if container.integrations.todoist is not None:

        async def todoist_people() -> list[str]:
            return await container.integrations.view.connected_people("todoist")

        entries.append(
            Periodic(
                "todoist_refresh", settings.todoist.refresh_seconds, fan_out(JobKind.todoist_refresh, todoist_people)
            )
        )

    async def renewing_people() -> list[str]:
        people = set(await container.calendars.renewing_people())
        if container.integrations.todoist is not None:
            people.update(await container.integrations.view.connected_people("todoist"))
        return sorted(people)

    entries.append(
        Periodic("token_refresh", settings.jobs.token_refresh_seconds, fan_out(JobKind.token_refresh, renewing_people))
    )
    return entries
