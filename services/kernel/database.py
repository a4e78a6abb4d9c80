"""One async engine per process: SQLite file by default, Postgres when DATABASE_URL says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from services.kernel.unit_of_work import UnitOfWork


def async_url(url: str) -> str:
    """Normalise a user-given URL to the async driver we ship (asyncpg / aiosqlite)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise ValueError(f"unsupported database {backend!r}: use postgresql:// or sqlite://")
    return parsed.render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = async_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        options: dict[str, Any] = {}
        if self.dialect == "postgresql":
            options = {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        self._writers = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # Same pool; the option only tells SQLite's BEGIN hook that this transaction only reads.
        readers = self.engine.execution_options(oo_sqlite_begin="BEGIN")
        self._readers = async_sessionmaker(readers, expire_on_commit=False, autoflush=False)
        self._sqlite_writer = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[UnitOfWork]:
        """One transaction: committed when the block ends, rolled back on error.

        After-commit callbacks (event dispatch) run only once the commit has succeeded.
        """
        sessions = self._writers if write else self._readers
        # SQLite has one writer at a time; waiting for it in SQLite's busy handler means sleeping in
        # steps of up to 100 ms. Queue this process's writers here instead (reads run concurrently).
        queue = self._sqlite_writer if write and self.dialect == "sqlite" else nullcontext()
        async with queue, sessions() as session, session.begin():
            uow = UnitOfWork(session, self.dialect)
            yield uow
        await uow.run_after_commit()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    # pysqlite's implicit transactions give neither snapshot reads nor a write lock taken up front;
    # SQLAlchemy's documented recipe: let us emit BEGIN ourselves. Writers take the lock at BEGIN
    # (IMMEDIATE) so a read-then-write transaction never fails on a stale snapshot.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        statement = connection.get_execution_options().get("oo_sqlite_begin", "BEGIN IMMEDIATE")
        connection.exec_driver_sql(statement)
