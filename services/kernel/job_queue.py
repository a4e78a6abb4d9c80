"""The jobs port on Postgres, through procrastinate (ADR 0032): durable, shared by every process.

A job is a row of `procrastinate_jobs` whose `args` are the person's id (and a task's id): `lock`
`user:<id>` keeps one person's jobs from running at once in any process, `queueing_lock` `<kind>:<id>`
lets one job per kind and person wait (a running one does not count). Periodic fan-outs are deferred
once per tick across all workers; jobs of a worker that stopped sending heartbeats are put back to
waiting by a periodic job of their own; finished jobs are deleted as they finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping, Sequence

import structlog
from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.worker import Worker
from sqlalchemy.engine import make_url

from oo_contracts.jobs import Job, JobKind, PersonJob, TaskJob, lock_of, queueing_lock_of
from services.kernel.job_runner import PROVIDER_KINDS, JobHandler, JobMetrics, Periodic
from services.kernel.job_runner import PROVIDER_RETRY as RETRY

log = structlog.get_logger(__name__)

QUEUE = "oo"
RESTART_FIRST_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0
STOP_MARGIN_SECONDS = 5.0  # beyond the running jobs' grace: the worker's own unregistering
# Every table procrastinate keeps, and how each relates to a person (the privacy test reads this).
JOB_TABLES = {
    "procrastinate_jobs": "keyed by a person through args->>'user_id': purged by account deletion",
    "procrastinate_events": "a job's state changes, by job id: deleted with the job (ON DELETE CASCADE)",
    "procrastinate_periodic_defers": "the periodic fan-outs' ticks: their jobs carry no person",
    "procrastinate_workers": "worker heartbeats: no person",
}
# The in-process runner's schedule, kept by procrastinate here.
PROVIDER_RETRY = RetryStrategy(
    max_attempts=RETRY.max_attempts, wait=RETRY.wait, exponential_wait=RETRY.exponential_wait
)
_TASK_KINDS = frozenset({JobKind.todoist_task_refresh, JobKind.todoist_complete})


def conninfo(database_url: str) -> str:
    """libpq's form of DATABASE_URL (SQLAlchemy's driver suffix dropped)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def cron_every(seconds: float) -> str:
    """A procrastinate cron for "every `seconds`", rounded to what cron can say (seconds below a
    minute, whole minutes below an hour, whole hours above)."""
    if seconds < 60:
        return f"* * * * * */{max(1, math.floor(seconds))}"
    if seconds < 3600:
        return f"*/{max(1, round(seconds / 60))} * * * *"
    return f"0 */{max(1, min(23, round(seconds / 3600)))} * * *"


class PostgresJobs:
    """procrastinate's App with its own psycopg pool; `start()` runs a procrastinate worker in this process."""

    section = "jobs"

    def __init__(
        self,
        database_url: str,
        metrics: JobMetrics,
        *,
        concurrency: int = 8,
        heartbeat_seconds: float = 10.0,
        stalled_seconds: float = 30.0,
        stalled_check_seconds: float = 60.0,
        shutdown_seconds: float = 10.0,
        keep_failed_hours: int = 24,
    ) -> None:
        self._metrics = metrics
        self._concurrency = concurrency
        self._heartbeat_seconds = heartbeat_seconds
        self._stalled_seconds = stalled_seconds
        self._stalled_check_seconds = stalled_check_seconds
        self._shutdown_seconds = shutdown_seconds
        self._keep_failed_hours = keep_failed_hours
        # Opened at the first use, not at construction: nothing connects at import or bootstrap time.
        self.app = App(
            connector=PsycopgConnector(
                conninfo=conninfo(database_url),
                min_size=0,
                max_size=max(4, concurrency + 2),
            )
        )
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None
        self._running: Worker | None = None
        self._stopping = asyncio.Event()
        self._periodic: Sequence[Periodic] = ()

    @property
    def schedule(self) -> Sequence[Periodic]:
        return self._periodic

    @property
    def running(self) -> bool:
        return self._worker is not None

    def register(self, handlers: Mapping[JobKind, JobHandler], periodic: Sequence[Periodic]) -> None:
        self._periodic = periodic
        for kind, handler in handlers.items():
            self.app.task(
                name=f"oo.{kind.value}",
                queue=QUEUE,
                retry=PROVIDER_RETRY if kind in PROVIDER_KINDS else False,
                pass_context=True,
            )(self._runner(kind, handler))
        for entry in periodic:
            task = self.app.task(
                name=f"oo.periodic.{entry.name}",
                queue=QUEUE,
                retry=PROVIDER_RETRY if entry.retries_provider_calls else False,
            )(_periodic_runner(entry))
            self.app.periodic(cron=cron_every(entry.every_seconds), periodic_id=entry.name)(task)
        retry_stalled = self.app.task(name="oo.periodic.retry_stalled", queue=QUEUE, pass_context=True)(
            self._retry_stalled
        )
        self.app.periodic(cron=cron_every(self._stalled_check_seconds), periodic_id="retry_stalled")(retry_stalled)
        remove_old = self.app.task(name="oo.periodic.remove_old_jobs", queue=QUEUE, pass_context=True)(
            self._remove_old_jobs
        )
        self.app.periodic(cron=cron_every(3600), periodic_id="remove_old_jobs")(remove_old)

    def _runner(self, kind: JobKind, handler: JobHandler):  # type: ignore[no-untyped-def]
        metrics = self._metrics

        async def run(context: JobContext, user_id: str, task_id: str | None = None) -> None:
            job: Job = (
                TaskJob(kind=kind, user_id=user_id, task_id=task_id or "")
                if kind in _TASK_KINDS
                else PersonJob(kind=kind, user_id=user_id)
            )
            job_id = context.job.id
            log.info("job_started", job_id=job_id, kind=kind.value, user_id=user_id)
            try:
                await handler(job)
            except Exception:
                metrics.failed.labels(kind.value).inc()
                log.exception("job_failed", job_id=job_id, kind=kind.value)
                raise
            log.info("job_finished", job_id=job_id, kind=kind.value, user_id=user_id)

        return run

    async def _retry_stalled(self, context: JobContext, timestamp: int) -> None:
        """A worker killed mid-job leaves the job `doing` (and its person's lock held): put it back."""
        manager = context.app.job_manager
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=self._stalled_seconds):
            log.warning("job_stalled_retried", job_id=job.id, task=job.task_name)
            await manager.retry_job(job)

    async def _remove_old_jobs(self, context: JobContext, timestamp: int) -> None:
        """Finished jobs are deleted as they finish; what a crash left in a final state goes here."""
        await context.app.job_manager.delete_old_jobs(
            nb_hours=self._keep_failed_hours, include_failed=True, include_cancelled=True, include_aborted=True
        )

    async def _open(self) -> None:
        async with self._open_lock:
            if not self._opened:
                await self.app.open_async()
                self._opened = True

    async def defer(self, job: Job) -> bool:
        await self._open()
        args: dict[str, str] = {"user_id": job.user_id}
        if isinstance(job, TaskJob):
            args["task_id"] = job.task_id
        try:
            await self.app.configure_task(
                name=f"oo.{job.kind.value}", queue=QUEUE, lock=lock_of(job), queueing_lock=queueing_lock_of(job)
            ).defer_async(**args)
        except AlreadyEnqueued:
            self._metrics.coalesced.labels(job.kind.value).inc()
            return False
        self._metrics.deferred.labels(job.kind.value).inc()
        return True

    def _worker_options(self) -> dict[str, object]:
        return {
            "queues": [QUEUE],
            "concurrency": self._concurrency,
            "delete_jobs": "always",
            "install_signal_handlers": False,
            "update_heartbeat_interval": self._heartbeat_seconds,
            "stalled_worker_timeout": self._stalled_seconds,
            # A stop waits this long for the running jobs, then aborts them: never for ever.
            "shutdown_graceful_timeout": self._shutdown_seconds,
        }

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._worker = asyncio.create_task(self._work(), name="procrastinate-worker")

    async def _work(self) -> None:
        """Run the worker for as long as this process runs jobs. Storage that is not ready (not migrated
        yet, or Postgres restarting) stops a worker; it starts again after a pause, as requests recover."""
        pause = RESTART_FIRST_SECONDS
        while not self._stopping.is_set():
            started = asyncio.get_running_loop().time()
            try:
                await self._open()
                if self._stopping.is_set():
                    return
                # Nothing awaits between making the worker and its run's first step, which clears any
                # earlier stop request: a `close` from now on reaches this worker.
                self._running = Worker(app=self.app, **self._worker_options(), wait=True)  # type: ignore[arg-type]
                await self._running.run()  # type: ignore[no-untyped-call]
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("jobs_worker_stopped", error_type=type(error).__name__, retry_in_seconds=pause)
            finally:
                self._running = None
            if self._stopping.is_set():
                return
            if asyncio.get_running_loop().time() - started > RESTART_MAX_SECONDS:
                pause = RESTART_FIRST_SECONDS  # it ran a while: a new outage starts the backoff afresh
            await asyncio.sleep(pause)
            pause = min(pause * 2, RESTART_MAX_SECONDS)

    async def idle(self) -> None:
        """Wait until no job waits or runs; with no worker started here, run what waits, then return."""
        await self._open()
        if self._worker is None:
            options = self._worker_options() | {"wait": False, "listen_notify": False}
            await self.app.run_worker_async(**options)  # type: ignore[arg-type]
            return
        while await self._unfinished():  # noqa: ASYNC110 - the state is in Postgres, not in this process
            await asyncio.sleep(0.05)

    async def _unfinished(self) -> int:
        jobs = await self.app.job_manager.list_jobs_async(queue=QUEUE)
        return sum(1 for job in jobs if job.status in ("todo", "doing") and not job.task_name.startswith("oo.periodic"))

    async def close(self) -> None:
        if self._worker is not None:
            # The worker's own stop, not a cancellation: a cancellation that lands while it connects can
            # be swallowed by the driver, and the worker would then run for ever.
            self._stopping.set()
            if self._running is not None:
                self._running.stop()  # type: ignore[no-untyped-call]
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), self._shutdown_seconds + STOP_MARGIN_SECONDS)
            except TimeoutError:
                log.warning("jobs_worker_stop_timed_out")
                self._worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._worker
            except Exception as error:  # it already stopped on an error of its own
                log.warning("jobs_worker_ended_with_error", error_type=type(error).__name__)
            self._worker = None
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def purge_user(self, user_id: str) -> None:
        """The person's jobs that wait or ended go (their events with them); one running now (it may be
        this deletion) is deleted by its worker when it ends, and meets the deletion's hold first."""
        await self._open()
        await self.app.connector.execute_query_async(
            "DELETE FROM procrastinate_jobs WHERE args->>'user_id' = %(user_id)s AND status <> 'doing'",
            user_id=user_id,
        )


def _periodic_runner(entry: Periodic):  # type: ignore[no-untyped-def]
    async def run(timestamp: int) -> None:
        await entry.run()

    return run
