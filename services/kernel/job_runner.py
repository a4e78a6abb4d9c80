"""The jobs port served inside one process (the embedded default on SQLite; ADR 0032).

Same semantics as the Postgres queue, without its durability: one job of a person at a time, at most
one waiting job per kind and person (a running one does not count, so a trigger that arrives mid-run
is not lost), a failed provider job tried again on the same schedule, periodic fan-outs. What waits is
lost with the process; the periodic fan-outs and the pending deletions are derived again from tables
at the next start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter

from oo_contracts.jobs import Job, JobKind, Jobs, lock_of, queueing_lock_of

log = structlog.get_logger(__name__)

JobHandler = Callable[[Job], Awaitable[None]]


@dataclass(frozen=True)
class Periodic:
    """Work run every `every_seconds` by whichever process runs jobs; a fan-out defers per-person jobs."""

    name: str
    every_seconds: float
    run: Callable[[], Awaitable[object]]
    retries_provider_calls: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed job is tried again: after its n-th failed attempt, `wait + exponential_wait ** n`
    seconds later, at most `max_attempts` in all. Procrastinate's schedule, whose `RetryStrategy` of the
    same numbers serves Postgres."""

    max_attempts: int
    wait: int
    exponential_wait: int

    def delay(self, attempts: int) -> float | None:
        """Seconds before trying again after `attempts` failed attempts; None once they are used up."""
        if attempts >= self.max_attempts:
            return None
        return float(self.wait + self.exponential_wait**attempts)


# A provider that answered with an error is asked again: 5 attempts over about a minute.
PROVIDER_RETRY = RetryPolicy(max_attempts=5, wait=2, exponential_wait=2)
PROVIDER_KINDS = frozenset(
    {
        JobKind.calendar_refresh,
        JobKind.todoist_refresh,
        JobKind.todoist_task_refresh,
        JobKind.todoist_complete,
        JobKind.token_refresh,
    }
)


class JobRunner(Jobs, Protocol):
    """A jobs adapter as the composition roots see it."""

    section: str

    def register(self, handlers: Mapping[JobKind, JobHandler], periodic: Sequence[Periodic]) -> None: ...

    @property
    def schedule(self) -> Sequence[Periodic]:
        """The periodic work registered, run wherever jobs run."""
        ...

    @property
    def running(self) -> bool:
        """Whether this process runs jobs (started, not closed)."""
        ...

    async def start(self) -> None:
        """Run jobs in this process from now on (the api's embedded jobs, or the worker)."""
        ...

    async def idle(self) -> None:
        """Wait until no job waits or runs (tests); where no runner is started, run what waits."""
        ...

    async def close(self) -> None: ...

    async def purge_user(self, user_id: str) -> None:
        """`MessageStore`: account deletion removes the person's jobs that wait or ended."""
        ...


class JobMetrics:
    """`oo_jobs_deferred_total`, `oo_jobs_coalesced_total` and `oo_jobs_failed_total` by kind."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deferred = Counter("oo_jobs_deferred", "Jobs deferred, by kind.", ["kind"], registry=registry)
        self.coalesced = Counter(
            "oo_jobs_coalesced", "Triggers folded into a job already waiting, by kind.", ["kind"], registry=registry
        )
        self.failed = Counter("oo_jobs_failed", "Job runs that raised, by kind.", ["kind"], registry=registry)


class InProcessJobs:
    """Jobs as asyncio tasks of this process."""

    section = "jobs"

    def __init__(self, metrics: JobMetrics, *, concurrency: int = 8, retry: RetryPolicy = PROVIDER_RETRY) -> None:
        self._metrics = metrics
        self._retry = retry
        self._handlers: Mapping[JobKind, JobHandler] = {}
        self._periodic: Sequence[Periodic] = ()
        self._slots = asyncio.Semaphore(concurrency)
        self._people: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, tuple[Job, asyncio.Task[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._schedules: list[asyncio.Task[None]] = []

    def register(self, handlers: Mapping[JobKind, JobHandler], periodic: Sequence[Periodic]) -> None:
        self._handlers = handlers
        self._periodic = periodic

    @property
    def schedule(self) -> Sequence[Periodic]:
        return self._periodic

    @property
    def running(self) -> bool:
        return bool(self._schedules)

    async def defer(self, job: Job) -> bool:
        key = queueing_lock_of(job)
        if key in self._waiting:
            self._metrics.coalesced.labels(job.kind.value).inc()
            return False
        self._queue(job, key, attempts=0, after=0.0)
        self._metrics.deferred.labels(job.kind.value).inc()
        return True

    def _queue(self, job: Job, key: str, *, attempts: int, after: float) -> None:
        task = asyncio.create_task(self._run(job, key, attempts, after), name=key)
        self._waiting[key] = (job, task)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job, key: str, attempts: int, after: float) -> None:
        person = lock_of(job)
        lock = self._people.setdefault(person, asyncio.Lock())
        try:
            if after:
                await asyncio.sleep(after)  # waiting to be tried again: a new trigger folds into it
            async with lock, self._slots:
                self._waiting.pop(key, None)  # running now: the next trigger waits anew
                await self._handlers[job.kind](job)
        except asyncio.CancelledError:
            raise
        except Exception:  # a job must never take the process down
            self._metrics.failed.labels(job.kind.value).inc()
            log.exception("job_failed", kind=job.kind.value, attempts=attempts + 1)
            delay = self._retry.delay(attempts + 1) if job.kind in PROVIDER_KINDS else None
            if delay is not None and key not in self._waiting:  # a trigger already waiting does it anyway
                self._queue(job, key, attempts=attempts + 1, after=delay)
        finally:
            if key in self._waiting and self._waiting[key][1] is asyncio.current_task():
                del self._waiting[key]  # cancelled while it waited
            if not lock.locked() and self._people.get(person) is lock:
                del self._people[person]

    async def start(self) -> None:
        for periodic in self._periodic:
            self._schedules.append(asyncio.create_task(_every(periodic), name=periodic.name))

    async def idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in (*self._schedules, *self._tasks):
            task.cancel()
        await asyncio.gather(*self._schedules, *self._tasks, return_exceptions=True)
        self._schedules.clear()

    async def purge_user(self, user_id: str) -> None:
        """Waiting jobs of the person are dropped; one that runs meets the deletion's hold and writes nothing."""
        for key, (job, task) in list(self._waiting.items()):
            if job.user_id == user_id:
                task.cancel()
                del self._waiting[key]


async def _every(periodic: Periodic) -> None:
    while True:
        try:
            await periodic.run()
        except Exception:
            log.exception("periodic_job_failed", job=periodic.name)
        await asyncio.sleep(periodic.every_seconds)
