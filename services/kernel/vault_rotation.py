"""`oo vault rotate` and `oo vault status` over every module's sealed tables.

Rows are re-sealed in short transactions of a bounded share, each row's update conditional on what
was read, so a token a running server writes meanwhile is never overwritten with an older one.
Passes repeat until no row that opens is left under another key: a server whose key file had not yet
changed when it sealed, or a write that won a row from the rotation, is caught by the next pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from services.kernel.database import Database
from services.kernel.ports import SealedStore
from services.kernel.vault import TokenVault

RESEAL_SHARE_ROWS = 100
MAX_PASSES = 10


@dataclass(frozen=True)
class RotationReport:
    key_id: str  # the current key, which every row that opens is now sealed under
    resealed: int
    lost_to_writers: int  # re-seals a concurrent write won: its value stands, under the key it chose
    refused: int  # rows that do not open and so stay as they are (see `oo vault status`)
    rows_by_key: dict[str, int]

    @property
    def left_under_other_keys(self) -> int:
        return sum(count for key_id, count in self.rows_by_key.items() if key_id != self.key_id)


async def rows_by_key(database: Database, stores: Sequence[SealedStore]) -> dict[str, int]:
    """How many rows each key id seals, over every sealed table."""
    counts: Counter[str] = Counter()
    async with database.transaction(write=False) as uow:
        for store in stores:
            counts.update(await store.count_by_key(uow))
    return dict(counts)


async def reseal_all(database: Database, vault: TokenVault, stores: Sequence[SealedStore]) -> RotationReport:
    """Re-seal every row of every store under the vault's current key."""
    resealed = lost = refused = 0
    counts: dict[str, int] = {}
    for _ in range(MAX_PASSES):
        refused = 0
        for store in stores:
            after: tuple[str, ...] | None = None
            while True:
                async with database.transaction() as uow:
                    share = await store.reseal_share(uow, after, RESEAL_SHARE_ROWS)
                resealed += share.resealed
                lost += share.lost
                refused += share.refused
                if share.next_after is None:
                    break
                after = share.next_after
        counts = await rows_by_key(database, stores)
        current = vault.current_key_id
        if sum(count for key_id, count in counts.items() if key_id != current) <= refused:
            break
    return RotationReport(vault.current_key_id, resealed, lost, refused, counts)
