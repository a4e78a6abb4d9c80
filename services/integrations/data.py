"""The integrations module as a UserDataOwner: a person's connections (never a token), the ids of the
provider tasks oO tracks, and the connections they began."""

from __future__ import annotations

from oo_contracts.export import ConnectionRecord, IntegrationsSection, PendingAuthorization, ProviderTaskRecord
from services.integrations.provider_store import OAuthStates, TaskMarks
from services.integrations.service import ConnectionService
from services.integrations.titles import TitleCache
from services.kernel.unit_of_work import UnitOfWork


class UserConnections:
    section = "integrations"
    tables: tuple[str, ...] = ("integrations_connections", "integrations_task_marks", "integrations_oauth_states")

    def __init__(self, connections: ConnectionService, titles: TitleCache) -> None:
        self._connections = connections
        self._titles = titles
        self._marks = TaskMarks()
        self._states = OAuthStates()

    async def export_user(self, uow: UnitOfWork, user_id: str) -> IntegrationsSection:
        return IntegrationsSection(
            connections=[
                ConnectionRecord(
                    provider=c.provider,
                    connected=c.connected,
                    scopes=list(c.scopes),
                    connected_at=c.connected_at,
                    account_id=c.account_id,
                    last_synced_at=c.last_synced_at,
                    sync_error=c.sync_error,
                )
                for c in await self._connections.connections(uow, user_id)
            ],
            tasks=[
                ProviderTaskRecord(provider=row.provider, task_id=row.task_id)
                for row in await self._marks.listed(uow, user_id)
            ],
            pending_authorizations=[
                PendingAuthorization(provider=row.provider, started_at=row.created_at, expires_at=row.expires_at)
                for row in await self._states.pending(uow, user_id)
            ],
        )

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> bool:
        """A person's connections are a handful of rows (one per provider): erased at once, each grant
        revoked at its provider once the erasure has committed; their task marks (at most a refresh's
        tasks per provider) and pending authorizations with them, and their titles from memory."""
        await self._connections.erase_user(uow, user_id)
        await self._marks.forget(uow, user_id)
        await self._states.forget(uow, user_id)
        self._titles.forget(user_id)
        return True
