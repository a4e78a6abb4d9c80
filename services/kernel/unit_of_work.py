"""The unit of work a request or job runs in. Module code reads and writes through it, never commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

log = structlog.get_logger(__name__)


class UnitOfWork:
    def __init__(self, connection: AsyncConnection, dialect: str) -> None:
        # A Core connection, not an ORM session: no module maps objects, and the session's own
        # bookkeeping cost ~20% of a short transaction (bench/recommend.py).
        self.connection = connection
        self.dialect = dialect
        self._after_commit: list[Callable[[], Awaitable[object]]] = []

    def after_commit(self, callback: Callable[[], Awaitable[object]]) -> None:
        """Run `callback` once this unit of work has committed (never if it rolls back)."""
        self._after_commit.append(callback)

    async def run_after_commit(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                await callback()
            except Exception:  # a subscriber's failure must not fail a committed request
                log.exception("after_commit_callback_failed")


Transaction = Callable[..., AbstractAsyncContextManager[UnitOfWork]]
"""`Database.transaction`, injected: `transaction()` writes, `transaction(write=False)` only reads."""
