"""The integrations module's facade: a person's connections to providers, their tokens in the vault.

The connectors (Todoist first, then calendars) build on `connections`; the composition root hands
the privacy flows `user_data` and `oo vault` the `sealed` table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.integrations.calendar.connector import CalendarDeps
from services.integrations.calendar.repository import CalendarRepository
from services.integrations.calendar.settings import CalendarSettings
from services.integrations.calendar.wiring import CalendarConnectors
from services.integrations.connector import Connector
from services.integrations.data import UserConnections
from services.integrations.repository import ConnectionRepository
from services.integrations.sealing import ConnectionSealer, SealedConnections
from services.integrations.service import Connection, ConnectionService, ProviderTokens, TokenRevoker
from services.kernel.ports import ConsentCheck, EventPublisher
from services.kernel.unit_of_work import Transaction, UnitOfWork
from services.kernel.vault import TokenVault

__all__ = [
    "CalendarConnectors",
    "Connection",
    "ConnectionService",
    "ConnectorData",
    "IntegrationsModule",
    "ProviderTokens",
    "TokenRevoker",
    "calendar_connectors",
]


class IntegrationsModule:
    def __init__(self, vault: TokenVault, revokers: Mapping[str, TokenRevoker] | None = None) -> None:
        repository = ConnectionRepository()
        sealer = ConnectionSealer(vault)
        # Each provider's revocation, by provider name: its connector registers it at the composition root.
        self.revokers: dict[str, TokenRevoker] = dict(revokers or {})
        self.connections = ConnectionService(repository, sealer, self.revokers)
        self.user_data = UserConnections(self.connections, CalendarRepository())
        self.sealed = SealedConnections(repository, sealer)


def calendar_connectors(
    module: IntegrationsModule,
    settings: CalendarSettings,
    *,
    transaction: Transaction,
    consents: ConsentCheck,
    publisher: EventPublisher,
    local_mode: bool,
) -> CalendarConnectors:
    """The calendar connectors (`caldav`, `ics`, `google_calendar`), each a `Connector`, built on the
    module's connections; their revokers are registered on the module. The composition root mounts
    `router()`, schedules `refresh_connected()` and hands `all` to whatever lists connectors."""
    deps = CalendarDeps(transaction=transaction, connections=module.connections, consents=consents, publisher=publisher)
    connectors = CalendarConnectors(deps, settings, local_mode=local_mode)
    for connector in connectors.all:
        module.revokers[connector.provider] = connector.revoker
    return connectors


class ConnectorData:
    """`IntegrationData` (a kernel port): a withdrawn integration's signals forgotten by its connector, in
    the withdrawal's transaction."""

    def __init__(self, connectors: Sequence[Connector]) -> None:
        self._connectors = {connector.provider: connector for connector in connectors}

    async def forget(self, uow: UnitOfWork, user_id: str, integration: str) -> None:
        connector = self._connectors.get(integration)
        if connector is not None:
            await connector.forget(uow, user_id)
