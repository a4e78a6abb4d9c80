"""The jobs port: work a module hands to the process that runs jobs, one person at a time (ADR 0032).

A job names a kind and a person, and for the kinds about one Todoist task, that task. It carries no
other data: the job reads what it needs when it runs, so a job that waited reads the present state.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class JobKind(StrEnum):
    llm_refresh = "llm_refresh"
    calendar_refresh = "calendar_refresh"
    todoist_refresh = "todoist_refresh"
    todoist_task_refresh = "todoist_task_refresh"
    todoist_complete = "todoist_complete"
    deletion_resume = "deletion_resume"
    token_refresh = "token_refresh"  # noqa: S105 - a job kind's name, not a secret


PersonKind = Literal[
    JobKind.llm_refresh,
    JobKind.calendar_refresh,
    JobKind.todoist_refresh,
    JobKind.deletion_resume,
    JobKind.token_refresh,
]
TaskKind = Literal[JobKind.todoist_task_refresh, JobKind.todoist_complete]

# What goes into a lock string and a Postgres row: no separator of its own, no control characters.
_ID = r"^[A-Za-z0-9_.:@-]{1,200}$"


class PersonJob(BaseModel):
    """Work about one person as a whole."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: PersonKind
    user_id: str = Field(pattern=_ID)


class TaskJob(BaseModel):
    """Work about one of a person's Todoist tasks; `task_id` is the provider's id (`todoist:` prefixed for
    a completion, as the tip's `ref_id` carries it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: TaskKind
    user_id: str = Field(pattern=_ID)
    task_id: str = Field(pattern=_ID)


Job = PersonJob | TaskJob


def lock_of(job: Job) -> str:
    """No two jobs of one person run at once, in any process."""
    return f"user:{job.user_id}"


def queueing_lock_of(job: Job) -> str:
    """At most one job of this kind for this person (and task) waits: a burst of triggers is one job."""
    if isinstance(job, TaskJob):
        return f"{job.kind.value}:{job.user_id}:{job.task_id}"
    return f"{job.kind.value}:{job.user_id}"


class Jobs(Protocol):
    """Where modules hand work over. `defer` returns False when the same job was already waiting (the
    trigger is coalesced into it), True when a new one now waits."""

    async def defer(self, job: Job) -> bool: ...
