"""What every connector (Todoist, each calendar) offers the integrations module, whatever its provider.

The module's routes list a person's connections, refresh one on demand and disconnect one through
this port alone; the scheduled refresh and a consent's withdrawal use it too. A connector turns what
its provider holds into signals without text (ids, times, derived features) and publishes them as
events; it never stores what the provider holds.
"""

from __future__ import annotations

from typing import Protocol

from oo_contracts.consents import ConsentPurpose
from oo_contracts.integrations import RefreshOutcome
from services.integrations.service import TokenRevoker
from services.kernel.unit_of_work import UnitOfWork

__all__ = ["Connector", "RefreshOutcome"]


class Connector(Protocol):
    provider: str
    """The connection's provider name (`todoist`, `caldav`…), its row's key in `integrations_connections`."""
    consent: ConsentPurpose
    """The purpose the person grants before oO reads anything from this provider."""

    @property
    def revoker(self) -> TokenRevoker:
        """Revokes a grant at the provider once its connection is deleted (RFC 7009 where it has one)."""
        ...

    async def refresh(self, user_id: str) -> RefreshOutcome:
        """Read the provider now and publish what changed, each in its own short transactions (no
        transaction is open while the provider answers). A failure keeps the signals derived before
        it and is recorded on the connection (`ConnectionService.record_sync`); it never raises for the
        provider's errors."""
        ...

    async def forget(self, uow: UnitOfWork, user_id: str) -> None:
        """Erase, in the caller's transaction, every signal derived from this provider for the person:
        on disconnection and on the withdrawal of `consent`."""
        ...
