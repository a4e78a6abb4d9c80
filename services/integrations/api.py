"""The integrations module's facade: a person's connections to providers, their tokens in the vault.

The connectors (Todoist first, then calendars) build on `connections`; the composition root hands
the privacy flows `user_data` and `oo vault` the `sealed` table.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.integrations.data import UserConnections
from services.integrations.repository import ConnectionRepository
from services.integrations.sealing import ConnectionSealer, SealedConnections
from services.integrations.service import Connection, ConnectionService, ProviderTokens, TokenRevoker
from services.kernel.vault import TokenVault

__all__ = ["Connection", "ConnectionService", "IntegrationsModule", "ProviderTokens", "TokenRevoker"]


class IntegrationsModule:
    def __init__(self, vault: TokenVault, revokers: Mapping[str, TokenRevoker] | None = None) -> None:
        repository = ConnectionRepository()
        sealer = ConnectionSealer(vault)
        # Each provider's revocation, by provider name: its connector registers it at the composition root.
        self.revokers: dict[str, TokenRevoker] = dict(revokers or {})
        self.connections = ConnectionService(repository, sealer, self.revokers)
        self.user_data = UserConnections(self.connections)
        self.sealed = SealedConnections(repository, sealer)
