"""The jobs port (ADR 0032) inside one process, on both backends: coalescing, and deletion removing the
person's jobs; procrastinate's tables accounted for by the privacy rules; the embedded runner's retries."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import inspect, text

from oo_contracts.jobs import Job, JobKind, PersonJob, TaskJob
from services.bootstrap import Container
from services.kernel.job_queue import JOB_TABLES, cron_every
from services.kernel.job_queue import PROVIDER_RETRY as PROVIDER_RETRY_STRATEGY
from services.kernel.job_runner import InProcessJobs, JobMetrics, RetryPolicy
from services.worker import create_worker_app
from tests.conftest import new_user_with_token


async def waiting_jobs(container: Container, user_id: str) -> int:
    async with container.database.transaction(write=False) as uow:
        query = text("SELECT count(*) FROM procrastinate_jobs WHERE args->>'user_id' = :user_id")
        return int((await uow.connection.execute(query, {"user_id": user_id})).scalar_one())


async def test_fifty_triggers_for_one_person_while_a_job_waits_are_one_waiting_job(container):
    job = PersonJob(kind=JobKind.calendar_refresh, user_id="usr_burst")
    deferred = [await container.jobs.defer(job) for _ in range(50)]
    assert deferred.count(True) == 1
    assert deferred[0] is True
    other = await container.jobs.defer(PersonJob(kind=JobKind.calendar_refresh, user_id="usr_other"))
    assert other is True  # another person's trigger is a job of its own
    if container.database.dialect == "postgresql":
        assert await waiting_jobs(container, "usr_burst") == 1
    await container.jobs.idle()


async def test_a_task_job_coalesces_per_task_not_per_person(container):
    first = TaskJob(kind=JobKind.todoist_task_refresh, user_id="usr_tasks", task_id="123")
    second = TaskJob(kind=JobKind.todoist_task_refresh, user_id="usr_tasks", task_id="456")
    assert [await container.jobs.defer(j) for j in (first, first, second)] == [True, False, True]
    await container.jobs.idle()


@pytest.mark.parametrize("backend", ["postgres"])
async def test_deleting_the_account_removes_the_persons_jobs_and_keeps_anothers(container):
    gone, _ = await new_user_with_token(container)
    kept, _ = await new_user_with_token(container)
    for user_id in (gone, kept):
        await container.jobs.defer(PersonJob(kind=JobKind.calendar_refresh, user_id=user_id))
        await container.jobs.defer(TaskJob(kind=JobKind.todoist_complete, user_id=user_id, task_id="todoist:1"))
    assert await waiting_jobs(container, gone) == 2
    async with container.database.transaction() as uow:
        assert await container.profile.privacy.request_deletion(uow, gone) is not None
    await container.profile.privacy.run_deletion(gone)
    assert await waiting_jobs(container, gone) == 0
    assert await waiting_jobs(container, kept) == 2


@pytest.mark.parametrize("backend", ["postgres"])
async def test_every_procrastinate_table_is_declared_with_how_it_relates_to_a_person(container):
    def find(connection) -> list[str]:
        return sorted(t for t in inspect(connection).get_table_names() if t.startswith("procrastinate"))

    async with container.database.engine.connect() as connection:
        assert await connection.run_sync(find) == sorted(JOB_TABLES)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_embedded_runner_drops_a_deleted_persons_waiting_jobs(container):
    user_id, _ = await new_user_with_token(container)
    await container.jobs.defer(PersonJob(kind=JobKind.calendar_refresh, user_id=user_id))
    await container.jobs.purge_user(user_id)
    assert await container.jobs.defer(PersonJob(kind=JobKind.calendar_refresh, user_id=user_id)) is True
    await container.jobs.idle()


def test_periods_become_crons_at_the_grain_cron_has():
    assert cron_every(1) == "* * * * * */1"
    assert cron_every(30) == "* * * * * */30"
    assert cron_every(600) == "*/10 * * * *"
    assert cron_every(7200) == "0 */2 * * *"


async def test_the_worker_runs_jobs_on_postgres_and_leaves_them_to_the_api_on_sqlite(backend, settings):
    """On SQLite the api's queue lives in the api's memory and it always runs it: a worker beside it that
    ran its own copy would run one person's work twice at once."""
    app = create_worker_app(settings)
    async with app.router.lifespan_context(app):
        assert app.state.container.jobs.running is (backend == "postgres")


class Flaky:
    """A handler that raises for its first `failures` runs."""

    def __init__(self, failures: int) -> None:
        self.failures, self.runs = failures, 0
        self.failed = asyncio.Event()

    async def __call__(self, job: Job) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            self.failed.set()
            raise ConnectionError("the provider went away")


def runner_with(handler: Flaky, retry: RetryPolicy) -> InProcessJobs:
    runner = InProcessJobs(JobMetrics(CollectorRegistry()), retry=retry)
    runner.register(dict.fromkeys(JobKind, handler), [])
    return runner


async def test_the_embedded_runner_tries_a_failed_provider_job_again_on_the_schedule_until_it_succeeds():
    handler = Flaky(failures=2)
    runner = runner_with(handler, RetryPolicy(max_attempts=5, wait=0, exponential_wait=0))
    await runner.defer(PersonJob(kind=JobKind.todoist_refresh, user_id="usr_retry"))
    await runner.idle()
    assert handler.runs == 3


async def test_the_embedded_runner_gives_up_after_the_last_attempt_and_retries_no_other_kind():
    provider = Flaky(failures=99)
    runner = runner_with(provider, RetryPolicy(max_attempts=3, wait=0, exponential_wait=0))
    await runner.defer(PersonJob(kind=JobKind.calendar_refresh, user_id="usr_retry"))
    await runner.idle()
    assert provider.runs == 3

    deletion = Flaky(failures=99)  # a deletion resumes on its own schedule; an LLM refresh on the next event
    runner = runner_with(deletion, RetryPolicy(max_attempts=3, wait=0, exponential_wait=0))
    await runner.defer(PersonJob(kind=JobKind.deletion_resume, user_id="usr_retry"))
    await runner.defer(PersonJob(kind=JobKind.llm_refresh, user_id="usr_retry"))
    await runner.idle()
    assert deletion.runs == 2


async def test_a_trigger_while_a_failed_job_waits_to_be_tried_again_folds_into_it():
    handler = Flaky(failures=1)
    runner = runner_with(handler, RetryPolicy(max_attempts=5, wait=60, exponential_wait=0))
    job = PersonJob(kind=JobKind.todoist_refresh, user_id="usr_retry")
    await runner.defer(job)
    await handler.failed.wait()  # the first attempt ran and failed (and its retry was queued in that step)
    assert await runner.defer(job) is False  # the retry waits: this trigger is the same job
    await runner.close()
    assert handler.runs == 1


def test_the_retry_schedule_is_procrastinates():
    policy = RetryPolicy(max_attempts=5, wait=2, exponential_wait=2)
    assert [policy.delay(n) for n in range(1, 6)] == [4.0, 6.0, 10.0, 18.0, None]
    assert (PROVIDER_RETRY_STRATEGY.max_attempts, PROVIDER_RETRY_STRATEGY.wait) == (5, 2)
    assert PROVIDER_RETRY_STRATEGY.exponential_wait == 2
