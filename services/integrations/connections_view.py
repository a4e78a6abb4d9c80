"""The integrations' use cases across connectors: status, connect, refresh, disconnect, forget, and the
background work a connection brings (first read, webhook hints, completing a task done in oO).

Background work is deferred as jobs (ADR 0032): one person's run one at a time in whichever process runs
jobs, a burst of hints for one person and task is one job, and each is idempotent, so a job run twice (a
worker killed mid-job) or lost (the embedded default's restart) is made good by the next refresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

import structlog
from pydantic import ValidationError

from oo_contracts.events import EventEnvelope
from oo_contracts.integrations import Integrations, IntegrationStatus, RefreshResult
from oo_contracts.jobs import Job, JobKind, Jobs, PersonJob, TaskJob
from services.integrations.connector import Connector
from services.integrations.service import Connection, ConnectionService
from services.integrations.todoist.connector import TodoistConnector
from services.integrations.todoist.settings import TodoistSettings
from services.integrations.todoist.webhooks import TodoistWebhooks
from services.kernel.errors import Conflict, NotFound, Unauthenticated
from services.kernel.ports import Caller, ConsentCheck
from services.kernel.unit_of_work import Transaction, UnitOfWork

log = structlog.get_logger(__name__)

WRITE_SCOPE = "data:read_write"


class ConnectionsView:
    def __init__(
        self,
        connections: ConnectionService,
        connectors: Mapping[str, Connector],
        transaction: Transaction,
        consents: ConsentCheck,
        todoist: TodoistConnector | None,
        todoist_settings: TodoistSettings,
        jobs: Jobs,
        unlisted: Set[str] = frozenset(),
    ) -> None:
        self._connections = connections
        self._connectors = connectors
        self._transaction = transaction
        self._consents = consents
        self._todoist = todoist
        self._todoist_settings = todoist_settings
        self._unlisted = unlisted
        self._webhooks = TodoistWebhooks(connections)
        self._jobs = jobs

    async def statuses(self, uow: UnitOfWork, user_id: str) -> Integrations:
        held = {c.provider: c for c in await self._connections.connections(uow, user_id)}
        return Integrations(
            integrations=[
                _status(connector, held.get(provider), await self._consents.granted(uow, user_id, connector.consent))
                for provider, connector in sorted(self._connectors.items())
                if provider not in self._unlisted or provider in held
            ]
        )

    async def status(self, user_id: str, provider: str) -> IntegrationStatus:
        connector = self._connector(provider)
        async with self._transaction(write=False) as uow:
            connection = await self._connections.connection(uow, user_id, provider)
            granted = await self._consents.granted(uow, user_id, connector.consent)
        return _status(connector, connection, granted)

    async def begin_todoist(self, uow: UnitOfWork, user_id: str, complete_tasks: bool) -> str:
        todoist = self._require_todoist()
        if not await self._consents.granted(uow, user_id, todoist.consent):
            raise Conflict("grant `integration:todoist` before connecting Todoist", code="consent_required")
        return await todoist.oauth.start(uow, user_id, write=complete_tasks)

    async def finish_todoist(self, caller: Caller, *, state: str, code: str | None, error: str | None) -> str:
        async with self._transaction(write=False) as uow:
            principal = await caller.find(uow)
        if principal is None:
            principal = await caller.make()  # 401 without a credential outside local mode
        todoist = self._require_todoist()
        caller_id = principal.user_id
        finished = await todoist.oauth.finish(caller_id, state=state, code=code, error=error)
        if finished.failure is not None:
            log.info("todoist_connect_failed", reason=finished.failure)
            return finished.failure
        assert finished.user_id is not None
        await self._jobs.defer(PersonJob(kind=JobKind.todoist_refresh, user_id=finished.user_id))
        return "connected"

    async def todoist_delivery(self, raw: bytes, *, signature: str | None, delivery_id: str | None) -> None:
        self._require_todoist()
        secret = self._todoist_settings.client_secret
        assert secret is not None  # a configured app has one
        async with self._transaction() as uow:
            verdict, people, task_id = await self._webhooks.take(
                uow, secret=secret.get_secret_value(), raw_body=raw, signature=signature, delivery_id=delivery_id
            )
        if verdict == "forged":
            raise Unauthenticated("the delivery's signature does not hold", code="bad_signature")
        log.info("todoist_webhook", verdict=verdict, people=len(people))
        for user_id in people:
            await self._jobs.defer(_hinted(user_id, task_id))

    async def refresh(self, caller: Caller, provider: str) -> RefreshResult:
        async with self._transaction(write=False) as uow:
            principal = await caller.find(uow)
        if principal is None:
            principal = await caller.make()
        connector = self._connector(provider)  # after the caller: who may ask is settled before what exists
        outcome = await connector.refresh(principal.user_id)
        if outcome == "not_connected":
            raise Conflict(f"{provider} is not connected", code="not_connected")
        if outcome == "not_allowed":
            raise Conflict(f"grant `{connector.consent.value}` first", code="consent_required")
        return RefreshResult(outcome=outcome, integration=await self.status(principal.user_id, provider))

    async def disconnect(self, uow: UnitOfWork, user_id: str, provider: str) -> None:
        connector = self._connector(provider)
        if not await self._connections.disconnect(uow, user_id, provider):
            raise NotFound(f"{provider} is not connected", code="not_connected")
        await connector.forget(uow, user_id)

    async def forget(self, uow: UnitOfWork, user_id: str, integration: str) -> None:
        """`IntegrationData`: the person withdrew their consent to `integration`. What was derived goes,
        and so does the grant: oO keeps no token for a purpose it may not serve."""
        connector = self._connectors.get(integration)
        if connector is None:
            return
        await self._connections.disconnect(uow, user_id, integration)
        await connector.forget(uow, user_id)

    async def connected_people(self, provider: str) -> list[str]:
        """Everyone connected to `provider`: a periodic fan-out defers one job each."""
        async with self._transaction(write=False) as uow:
            return list(await self._connections.connected_people(uow, provider))

    async def on_tip_reacted(self, event: EventEnvelope) -> None:
        """Done in oO on a Todoist task completes it there, when the person allowed oO to write."""
        payload = event.payload
        ref = payload.get("ref_id")
        if self._todoist is None or payload.get("reaction") != "done" or not isinstance(ref, str):
            return
        if ref.startswith("todoist:"):
            try:
                job = TaskJob(kind=JobKind.todoist_complete, user_id=event.user_id, task_id=ref)
            except ValidationError:
                log.info("todoist_complete_skipped", reason="not a task id")
                return
            await self._jobs.defer(job)

    def _connector(self, provider: str) -> Connector:
        connector = self._connectors.get(provider)
        if connector is None:
            raise NotFound(f"this server offers no integration {provider!r}", code="unknown_integration")
        return connector

    def _require_todoist(self) -> TodoistConnector:
        if self._todoist is None:
            raise NotFound("this server has no Todoist app configured", code="unknown_integration")
        return self._todoist


def _hinted(user_id: str, task_id: str | None) -> Job:
    """A hint about one task refreshes that task; a hint without one, or with an id no job can carry,
    refreshes the person's tasks."""
    if task_id is not None:
        try:
            return TaskJob(kind=JobKind.todoist_task_refresh, user_id=user_id, task_id=task_id)
        except ValidationError:
            pass
    return PersonJob(kind=JobKind.todoist_refresh, user_id=user_id)


def _status(connector: Connector, connection: Connection | None, consent_granted: bool) -> IntegrationStatus:
    base = {"provider": connector.provider, "consent": connector.consent.value, "consent_granted": consent_granted}
    if connection is None:
        return IntegrationStatus(status="not_connected", **base)
    return IntegrationStatus(
        status=connection.status,
        scopes=list(connection.scopes),
        completes_tasks=WRITE_SCOPE in connection.scopes,
        connected_at=connection.connected_at,
        last_synced_at=connection.last_synced_at,
        stale=connection.stale,
        sync_error=connection.sync_error,
        **base,
    )
