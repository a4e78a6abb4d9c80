"""The integrations module's facade: a person's connections to providers, their tokens in the vault,
and the connectors that read them (Todoist; calendars).

The composition root builds it before the recommender (which renders provider task titles through
`titles`), registers `on_tip_reacted` on the bus, hands the privacy flows `user_data` and the consent
projection `forget`, and `oo vault` the `sealed` table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from prometheus_client import Counter, Histogram

from oo_contracts.jobs import Jobs
from services.integrations.calendar.connector import CalendarDeps
from services.integrations.calendar.google import PROVIDER as GOOGLE
from services.integrations.calendar.settings import CalendarSettings
from services.integrations.calendar.wiring import CalendarConnectors
from services.integrations.connections_view import ConnectionsView
from services.integrations.connector import Connector
from services.integrations.data import UserConnections
from services.integrations.repository import ConnectionRepository
from services.integrations.routes import build_router
from services.integrations.sealing import ConnectionSealer, SealedConnections
from services.integrations.service import Connection, ConnectionService, ProviderTokens, TokenRevoker
from services.integrations.titles import ProviderTitles, TitleCache
from services.integrations.todoist.connector import TodoistConnector
from services.integrations.todoist.http import Transports
from services.integrations.todoist.oauth import TodoistOAuth
from services.integrations.todoist.settings import TodoistSettings
from services.kernel.metrics import Metrics
from services.kernel.ports import ConsentCheck, EventPublisher
from services.kernel.unit_of_work import Transaction, UnitOfWork
from services.kernel.vault import TokenVault

__all__ = [
    "CalendarConnectors",
    "Connection",
    "ConnectionService",
    "IntegrationsModule",
    "ProviderTokens",
    "TodoistSettings",
    "TokenRevoker",
    "calendar_connectors",
]

UserHold = Callable[[UnitOfWork, str], Awaitable[bool]]


class IntegrationsModule:
    def __init__(
        self,
        vault: TokenVault,
        revokers: Mapping[str, TokenRevoker] | None = None,
        *,
        publisher: EventPublisher,
        transaction: Transaction,
        consents: ConsentCheck,
        hold_active_user: UserHold,
        jobs: Jobs,
        todoist: TodoistSettings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        repository = ConnectionRepository()
        sealer = ConnectionSealer(vault)
        # Each provider's revocation, by provider name: its connector registers it here.
        self.revokers: dict[str, TokenRevoker] = dict(revokers or {})
        self.connections = ConnectionService(repository, sealer, self.revokers)
        self.sealed = SealedConnections(repository, sealer)
        self.todoist_settings = todoist or TodoistSettings()
        self.title_cache = TitleCache(self.todoist_settings.title_seconds)
        self.connectors: dict[str, Connector] = {}
        # Providers kept for what they hold (disconnection, revocation, forgetting) but not offered to a
        # person who has no connection to them: the page shows no Connect this server cannot honour.
        self.unlisted: set[str] = set()
        self.todoist: TodoistConnector | None = None
        self._todoist_transports: Transports | None = None
        if self.todoist_settings.configured:
            settings = self.todoist_settings
            registry = (metrics or Metrics()).registry
            requests = Counter("oo_todoist_requests_total", "Requests oO sent to Todoist.", registry=registry)
            refreshes = Histogram(
                "oo_todoist_refresh_seconds",
                "Refreshes of a person's Todoist tasks that completed: `all` pages, or one `task` a webhook named.",
                ["kind"],
                registry=registry,
                buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            )
            transports = Transports(settings.api_url, settings.oauth_url, settings.timeout_seconds, requests.inc)
            self._todoist_transports = transports
            oauth = TodoistOAuth(settings, self.connections, transaction, consents, hold_active_user, transports)
            self.todoist = TodoistConnector(
                settings,
                self.connections,
                publisher,
                transaction,
                consents,
                hold_active_user,
                self.title_cache,
                oauth,
                transports,
                refreshes,
            )
            self.register(self.todoist)
        self.titles = ProviderTitles(
            self.title_cache,
            {"todoist": self.todoist} if self.todoist is not None else {},
            self.todoist_settings.title_timeout_seconds,
        )
        self.view = ConnectionsView(
            self.connections,
            self.connectors,
            transaction,
            consents,
            self.todoist,
            self.todoist_settings,
            jobs,
            self.unlisted,
        )
        self.user_data = UserConnections(self.connections, self.title_cache)

    def register(self, connector: Connector) -> None:
        """Offer a connector: its routes, its scheduled refresh, its revocation, its forgetting."""
        self.connectors[connector.provider] = connector
        self.revokers[connector.provider] = connector.revoker

    def router(self) -> APIRouter:
        return build_router(self.view)

    async def forget(self, uow: UnitOfWork, user_id: str, integration: str) -> None:
        """`IntegrationData`, for the consent projection: a withdrawn integration is forgotten."""
        await self.view.forget(uow, user_id, integration)

    async def close(self) -> None:
        if self._todoist_transports is not None:
            await self._todoist_transports.aclose()


def calendar_connectors(
    module: IntegrationsModule,
    settings: CalendarSettings,
    *,
    transaction: Transaction,
    consents: ConsentCheck,
    publisher: EventPublisher,
    local_mode: bool,
) -> CalendarConnectors:
    """The calendar connectors (`caldav`, `ics`, `google_calendar`), each a `Connector` registered on the
    module (its status, refresh, disconnection, revocation and forgetting through the module's routes
    and ports). The composition root mounts their `router()`; the `calendar_refresh` jobs read them (ADR 0032)."""
    deps = CalendarDeps(transaction=transaction, connections=module.connections, consents=consents, publisher=publisher)
    connectors = CalendarConnectors(deps, settings, local_mode=local_mode)
    for connector in connectors.all:
        module.register(connector)
    if not settings.google_configured:
        module.unlisted.add(GOOGLE)
    return connectors
