"""A connection's tokens sealed in the vault, and its table as a sealed store for `oo vault rotate`."""

from __future__ import annotations

from services.integrations.repository import ConnectionRepository, SealedTokens
from services.integrations.tables import integrations_connections
from services.kernel.ports import ResealShare
from services.kernel.unit_of_work import UnitOfWork
from services.kernel.vault import Place, SealedValueRefused, TokenVault

# Column names, part of each token's associated data.
ACCESS_COLUMN = "access_token_sealed"
REFRESH_COLUMN = "refresh_token_sealed"


def place(user_id: str, provider: str, column: str) -> Place:
    """Where a token of this connection is sealed: what its ciphertext is bound to."""
    return Place(integrations_connections.name, (user_id, provider), column)


class ConnectionSealer:
    def __init__(self, vault: TokenVault) -> None:
        self._vault = vault

    @property
    def current_key_id(self) -> str:
        return self._vault.current_key_id

    def seal(self, user_id: str, provider: str, access_token: str, refresh_token: str | None) -> SealedTokens:
        values = [(access_token, place(user_id, provider, ACCESS_COLUMN))]
        if refresh_token is not None:
            values.append((refresh_token, place(user_id, provider, REFRESH_COLUMN)))
        key_id, sealed = self._vault.seal_together(values)
        return SealedTokens(key_id, sealed[0], sealed[1] if refresh_token is not None else None)

    def open(self, user_id: str, provider: str, sealed: SealedTokens) -> tuple[str, str | None]:
        """The access and refresh tokens; SealedValueRefused if either does not open in this row."""
        access = self._vault.open(sealed.access_token_sealed, place(user_id, provider, ACCESS_COLUMN))
        refresh = sealed.refresh_token_sealed
        return access, None if refresh is None else self._vault.open(refresh, place(user_id, provider, REFRESH_COLUMN))


class SealedConnections:
    """The connections table as a SealedStore."""

    table = integrations_connections.name

    def __init__(self, repository: ConnectionRepository, sealer: ConnectionSealer) -> None:
        self._repository = repository
        self._sealer = sealer

    async def count_by_key(self, uow: UnitOfWork) -> dict[str, int]:
        return await self._repository.count_by_key(uow)

    async def reseal_share(self, uow: UnitOfWork, after: tuple[str, ...] | None, limit: int) -> ResealShare:
        rows = await self._repository.not_under_key(uow, self._sealer.current_key_id, after, limit)
        resealed = lost = refused = 0
        for row in rows:
            was = SealedTokens.of(row)
            try:
                access, refresh = self._sealer.open(row.user_id, row.provider, was)
            except SealedValueRefused:
                refused += 1
                continue
            now = self._sealer.seal(row.user_id, row.provider, access, refresh)
            if await self._repository.reseal(uow, row.user_id, row.provider, was, now):
                resealed += 1
            else:
                lost += 1
        next_after = (rows[-1].user_id, rows[-1].provider) if len(rows) == limit else None
        return ResealShare(resealed=resealed, lost=lost, refused=refused, next_after=next_after)
