"""Todoist through its official SDK: read the open tasks, publish what changed without text, keep the
titles in memory, complete a task the person marked done in oO, revoke on disconnection.

No transaction is open while Todoist answers: a refresh reads the grant in one short read, asks
Todoist, and publishes in one short write that first checks the person, the consent and the
connection again (any of them may have gone meanwhile).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import structlog
from prometheus_client import Histogram
from todoist_api_python.api_async import TodoistAPIAsync
from todoist_api_python.models import Task

from oo_contracts.consents import ConsentPurpose
from oo_contracts.events import ProviderForgotten, ProviderTaskRemoved, ProviderTaskSynced, envelope
from services.integrations.connector import RefreshOutcome
from services.integrations.provider_store import TaskMarks
from services.integrations.service import ConnectionService, ProviderTokens
from services.integrations.titles import TitleCache
from services.integrations.todoist.http import Transports, with_retries
from services.integrations.todoist.oauth import GrantRefused, OAuthFailure, TodoistOAuth
from services.integrations.todoist.settings import DEFAULT_FILTER, TodoistSettings
from services.kernel.ports import ConsentCheck, EventPublisher
from services.kernel.unit_of_work import Transaction, UnitOfWork
from services.kernel.vault import SealedValueRefused

log = structlog.get_logger(__name__)

PROVIDER = "todoist"
WRITE_SCOPE = "data:read_write"
PAGE_SIZE = 200
UserHold = Callable[[UnitOfWork, str], Awaitable[bool]]


class TodoistConnector:
    provider = PROVIDER
    consent = ConsentPurpose.integration_todoist

    def __init__(
        self,
        settings: TodoistSettings,
        connections: ConnectionService,
        publisher: EventPublisher,
        transaction: Transaction,
        consents: ConsentCheck,
        hold_active_user: UserHold,
        titles: TitleCache,
        oauth: TodoistOAuth,
        transports: Transports,
        refresh_seconds: Histogram | None = None,
    ) -> None:
        self._settings = settings
        self._connections = connections
        self._marks = TaskMarks()
        self._publisher = publisher
        self._transaction = transaction
        self._consents = consents
        self._hold_active_user = hold_active_user
        self._titles = titles
        self._transports = transports
        self.oauth = oauth
        self.revoker = oauth
        self._refreshing: dict[str, asyncio.Lock] = {}
        # The person's zone at Todoist as the last full read found it, for a one-task read's window.
        self._zones: dict[str, ZoneInfo] = {}
        self._refresh_seconds = refresh_seconds

    @asynccontextmanager
    async def _alone(self, user_id: str) -> AsyncIterator[None]:
        """One refresh per person at a time in this process."""
        lock = self._refreshing.setdefault(user_id, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._refreshing.get(user_id) is lock:
                del self._refreshing[user_id]

    async def refresh(self, user_id: str) -> RefreshOutcome:
        """Read the person's open tasks now (every page of the filter)."""
        async with self._alone(user_id):
            started = time.perf_counter()
            outcome = await self._refresh(user_id)
            self._observe("all", outcome, started)
            return outcome

    def _observe(self, kind: str, outcome: RefreshOutcome, started: float) -> None:
        if self._refresh_seconds is not None and outcome == "refreshed":
            self._refresh_seconds.labels(kind).observe(time.perf_counter() - started)

    async def refresh_task(self, user_id: str, task_id: str) -> RefreshOutcome:
        """A webhook's hint about one task: read that task alone. Only with the default filter, whose
        window oO can tell by itself, and once a full read has given the person's zone; else read all."""
        zone = self._zones.get(user_id)
        if self._settings.filter != DEFAULT_FILTER or zone is None:
            return await self.refresh(user_id)
        async with self._alone(user_id):
            started = time.perf_counter()
            outcome = await self._refresh_task(user_id, task_id, zone)
            self._observe("task", outcome, started)
            return outcome

    async def _refresh_task(self, user_id: str, task_id: str, zone: ZoneInfo) -> RefreshOutcome:
        grant = await self._grant(user_id)
        if isinstance(grant, str):
            return grant
        try:
            grant = await self.oauth.fresh(user_id, grant)
            task = await with_retries(lambda: self._read_one(grant, task_id))
        except Exception as error:
            return await self._failed(user_id, error)
        key = f"{PROVIDER}:{task_id}"
        synced = derive(task, zone) if task is not None and in_default_window(task, zone) else None
        async with self._transaction() as uow:
            if not await self._still_allowed(uow, user_id):
                return "not_allowed"
            await self._publish_one(uow, user_id, key, synced)
        if synced is not None and task is not None:
            self._titles.put(user_id, {key: task.content})
        else:
            self._titles.drop(user_id, [key])
        return "refreshed"

    async def _read_one(self, grant: ProviderTokens, task_id: str) -> Task | None:
        """The task if it is open at Todoist; None if it is completed, deleted or unknown."""
        async with TodoistAPIAsync(
            grant.access_token, client=httpx.AsyncClient(transport=self._transports.sdk())
        ) as api:
            try:
                task = await api.get_task(task_id)
            except httpx.HTTPStatusError as error:
                if error.response.status_code == 404:
                    return None
                raise
        return None if task.completed_at is not None else task

    async def _publish_one(self, uow: UnitOfWork, user_id: str, key: str, synced: ProviderTaskSynced | None) -> None:
        known = await self._marks.one(uow, user_id, PROVIDER, key)
        now = datetime.now(UTC)
        if synced is not None:
            mark = fingerprint(synced)
            if mark != known:
                await self._publisher.publish(uow, [_event(user_id, "integrations.task_synced.v1", now, synced)])
                await self._marks.put(uow, user_id, PROVIDER, {key: mark})
        elif known is not None:
            removed = ProviderTaskRemoved(provider=PROVIDER, task_id=key)
            await self._publisher.publish(uow, [_event(user_id, "integrations.task_removed.v1", now, removed)])
            await self._marks.remove(uow, user_id, PROVIDER, [key])

    async def _refresh(self, user_id: str) -> RefreshOutcome:
        grant = await self._grant(user_id)
        if isinstance(grant, str):
            return grant
        try:
            grant = await self.oauth.fresh(user_id, grant)
            zone, tasks = await with_retries(lambda: self._read(grant))
        except Exception as error:
            return await self._failed(user_id, error)
        self._zones[user_id] = zone
        synced = {f"{PROVIDER}:{task.id}": derive(task, zone) for task in tasks}
        self._titles.put(user_id, {f"{PROVIDER}:{task.id}": task.content for task in tasks}, replace=True)
        async with self._transaction() as uow:
            if not await self._still_allowed(uow, user_id):
                self._titles.forget(user_id, PROVIDER)
                return "not_allowed"
            await self._publish_changes(uow, user_id, synced)
            await self._connections.record_sync(uow, user_id, PROVIDER)
        return "refreshed"

    async def _grant(self, user_id: str) -> ProviderTokens | RefreshOutcome:
        async with self._transaction(write=False) as uow:
            if not await self._consents.granted(uow, user_id, self.consent):
                return "not_allowed"
            connection = await self._connections.connection(uow, user_id, PROVIDER)
            if connection is None or not connection.connected:
                return "not_connected"
            try:
                tokens = await self._connections.tokens(uow, user_id, PROVIDER)
            except SealedValueRefused:
                tokens = None
        if tokens is None:
            async with self._transaction() as uow:
                await self._connections.mark_broken(uow, user_id, PROVIDER)
            return "not_connected"
        return tokens

    async def _read(self, grant: ProviderTokens) -> tuple[ZoneInfo, list[Task]]:
        async with TodoistAPIAsync(
            grant.access_token, client=httpx.AsyncClient(transport=self._transports.sdk())
        ) as api:
            zone = await self._zone(api, grant)
            tasks: list[Task] = []
            pages = await api.filter_tasks(query=self._settings.filter, limit=PAGE_SIZE)
            async for page in pages:
                tasks.extend(page)
                if len(tasks) >= self._settings.max_tasks:
                    break
        return zone, tasks[: self._settings.max_tasks]

    async def _zone(self, api: TodoistAPIAsync, grant: ProviderTokens) -> ZoneInfo:
        """The person's zone at Todoist, in which a floating due time is meant."""
        user = await self.oauth.account(grant)
        try:
            return ZoneInfo(user.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    async def _failed(self, user_id: str, error: Exception) -> RefreshOutcome:
        code = failure_code(error)
        log.warning("todoist_refresh_failed", reason=code, error=type(error).__name__)
        async with self._transaction() as uow:
            if code == "unauthorized":
                await self._connections.mark_broken(uow, user_id, PROVIDER)
            await self._connections.record_sync(uow, user_id, PROVIDER, code)
        return "failed"

    async def _still_allowed(self, uow: UnitOfWork, user_id: str) -> bool:
        if not await self._hold_active_user(uow, user_id):
            return False
        if not await self._consents.granted(uow, user_id, self.consent):
            return False
        connection = await self._connections.connection(uow, user_id, PROVIDER)
        return connection is not None and connection.connected

    async def _publish_changes(self, uow: UnitOfWork, user_id: str, synced: dict[str, ProviderTaskSynced]) -> None:
        known = await self._marks.of(uow, user_id, PROVIDER)
        marks = {task_id: fingerprint(task) for task_id, task in synced.items()}
        changed = {task_id: mark for task_id, mark in marks.items() if known.get(task_id) != mark}
        gone = sorted(set(known) - set(marks))
        now = datetime.now(UTC)
        events = [_event(user_id, "integrations.task_synced.v1", now, synced[task_id]) for task_id in sorted(changed)]
        events += [
            _event(
                user_id, "integrations.task_removed.v1", now, ProviderTaskRemoved(provider=PROVIDER, task_id=task_id)
            )
            for task_id in gone
        ]
        if events:
            await self._publisher.publish(uow, events)
        await self._marks.put(uow, user_id, PROVIDER, changed)
        await self._marks.remove(uow, user_id, PROVIDER, gone)
        self._titles.drop(user_id, gone)

    async def forget(self, uow: UnitOfWork, user_id: str) -> None:
        """Everything derived from Todoist for the person, gone in the caller's transaction."""
        await self._marks.forget(uow, user_id, PROVIDER)
        forgotten = ProviderForgotten(provider=PROVIDER)
        await self._publisher.publish(
            uow, [_event(user_id, "integrations.provider_forgotten.v1", datetime.now(UTC), forgotten)]
        )
        self._titles.forget(user_id, PROVIDER)
        self._zones.pop(user_id, None)

    async def title(self, user_id: str, task_id: str) -> str | None:
        """One task's title from Todoist, for an answer whose title is not in memory."""
        grant = await self._grant(user_id)
        if isinstance(grant, str):
            return None
        async with TodoistAPIAsync(
            grant.access_token, client=httpx.AsyncClient(transport=self._transports.sdk())
        ) as api:
            try:
                task = await api.get_task(task_id.removeprefix(f"{PROVIDER}:"))
            except httpx.HTTPStatusError as error:
                if error.response.status_code == 404:
                    return None
                raise
        return task.content

    async def complete(self, user_id: str, task_id: str) -> bool:
        """Close the task in Todoist: the person marked it done in oO and allowed oO to write. A failure
        Todoist may get over raises `CompletionDeferred`, so the `todoist_complete` job is tried again."""
        grant = await self._grant(user_id)
        if isinstance(grant, str) or WRITE_SCOPE not in grant.scopes:
            return False
        try:
            grant = await self.oauth.fresh(user_id, grant)
            async with TodoistAPIAsync(
                grant.access_token, client=httpx.AsyncClient(transport=self._transports.sdk())
            ) as api:
                await with_retries(lambda: api.complete_task(task_id.removeprefix(f"{PROVIDER}:")))
        except Exception as error:
            reason = failure_code(error)
            log.warning("todoist_complete_failed", reason=reason, error=type(error).__name__)
            if reason in TRANSIENT_FAILURES:  # the job is tried again later (ADR 0032's retry schedule)
                raise CompletionDeferred(reason) from None
            return False
        return True

    async def renew_token(self, user_id: str, before: timedelta) -> bool:
        """The `token_refresh` job: renew the person's grant if it ends within `before`, so a read never
        waits on a renewal. True if the grant is good for at least that long now."""
        grant = await self._grant(user_id)
        if isinstance(grant, str):
            return False
        try:
            await self.oauth.fresh(user_id, grant, before)
        except GrantRefused:
            log.info("todoist_token_refresh_refused")  # the next read records it on the connection
            return False
        return True


def in_default_window(task: Task, zone: ZoneInfo) -> bool:
    """Whether `DEFAULT_FILTER` (`overdue | today | 14 days | no date`) holds the open task: undated, or
    due on a day up to 13 days after today in the person's zone (anything earlier is overdue)."""
    if task.due is None:
        return True
    when = task.due.date
    day = (
        (when if when.tzinfo is not None else when.replace(tzinfo=zone)).astimezone(zone).date()
        if isinstance(when, datetime)
        else when
    )
    return day <= datetime.now(zone).date() + timedelta(days=13)


def derive(task: Task, zone: ZoneInfo) -> ProviderTaskSynced:
    """What the policy needs of a Todoist task, and nothing of its words."""
    due_at: datetime | None = None
    due_day: date | None = None
    if task.due is not None:
        when = task.due.date
        if isinstance(when, datetime):
            due_at = when if when.tzinfo is not None else when.replace(tzinfo=_zone(task.due.timezone, zone))
        else:
            due_day = when
    minutes: int | None = None
    if task.duration is not None:
        minutes = task.duration.amount * (1440 if task.duration.unit == "day" else 1)
        minutes = min(max(minutes, 1), 10080)
    return ProviderTaskSynced(
        provider=PROVIDER,
        task_id=f"{PROVIDER}:{task.id}",
        due=due_at,
        due_date=due_day,
        estimated_minutes=minutes,
        priority=min(max(task.priority, 1), 4),
        project_id=task.project_id or None,
        recurring=bool(task.due is not None and task.due.is_recurring),
    )


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else default
    except (ZoneInfoNotFoundError, ValueError):
        return default


def fingerprint(task: ProviderTaskSynced) -> str:
    return hashlib.sha256(task.model_dump_json().encode()).hexdigest()[:32]


# Failures that say nothing about the grant or the task: asking again later may succeed.
TRANSIENT_FAILURES = frozenset({"provider_error", "rate_limited", "timeout", "unreachable"})


class CompletionDeferred(Exception):
    """Todoist could not close the task now (its failure code is the message, never its words)."""


def failure_code(error: BaseException) -> str:
    """A refresh's failure as the short code the connection records (never the error's text)."""
    if isinstance(error, httpx.HTTPStatusError):
        status = error.response.status_code
        if status in (401, 403):
            return "unauthorized"
        if status == 429:
            return "rate_limited"
        return "provider_error" if status >= 500 else "refused"
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.TransportError):
        return "unreachable"
    if isinstance(error, SealedValueRefused | GrantRefused):
        return "unauthorized"
    if isinstance(error, OAuthFailure):
        return error.reason
    return "unexpected"


def _event(user_id: str, event_type: str, now: datetime, payload: Any) -> Any:
    return envelope(
        event_id=uuid.uuid4(), event_type=event_type, user_id=user_id, occurred_at=now, source=PROVIDER, payload=payload
    )
