"""The integrations module as a UserDataOwner: a person's connections, exported without a token."""

from __future__ import annotations

from oo_contracts.export import ConnectionRecord, IntegrationsSection, PendingAuthorization
from services.integrations.calendar.repository import CalendarRepository
from services.integrations.service import ConnectionService
from services.kernel.unit_of_work import UnitOfWork


class UserConnections:
    section = "integrations"
    tables: tuple[str, ...] = ("integrations_connections", "integrations_oauth_states")

    def __init__(self, connections: ConnectionService, calendars: CalendarRepository) -> None:
        self._connections = connections
        self._calendars = calendars

    async def export_user(self, uow: UnitOfWork, user_id: str) -> IntegrationsSection:
        return IntegrationsSection(
            connections=[
                ConnectionRecord(
                    provider=c.provider, connected=c.connected, scopes=list(c.scopes), connected_at=c.connected_at
                )
                for c in await self._connections.connections(uow, user_id)
            ],
            pending_authorizations=[
                PendingAuthorization(provider=row.provider, started_at=row.created_at, expires_at=row.expires_at)
                for row in await self._calendars.states_of(uow, user_id)
            ],
        )

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> bool:
        """A person's connections are a handful of rows (one per provider): erased at once, each grant
        revoked at its provider once the erasure has committed."""
        await self._connections.erase_user(uow, user_id)
        await self._calendars.erase_user(uow, user_id)
        return True
