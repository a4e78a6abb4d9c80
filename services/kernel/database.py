"""One async engine per process: SQLite file by default, Postgres when DATABASE_URL says so."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiosqlite
import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.kernel.private_files import create_owner_only
from services.kernel.unit_of_work import UnitOfWork

WAL_SAFETY_NET_PAGES = 10_000
CHECKPOINT_EVERY_SECONDS = 0.25  # small passes: the second one, between writers, stays short
# A log at least this long after a pass gets a second pass between writers (SQLite's own default
# checkpoint threshold, ~4 MB).
CHECKPOINT_FINISH_PAGES = 1_000
SqliteConnectArguments = tuple[list[Any], dict[str, Any]]  # positional and keyword, for sqlite3.connect
# A pooled Postgres connection idle this long is pinged before use: a dead peer that closed no socket
# (a dropped network path) shows only then. One closed by the server (a restart) is seen at no cost.
PING_AFTER_IDLE_SECONDS = 30.0
# How long a writer waits for another process (the CLI, a worker, a backup) to release SQLite's write
# lock before its request answers 503: on a thread of its own, never on the event loop's.
SQLITE_WRITER_WAIT_MS = 10_000


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
        # JSON columns (decisions, feature and policy state) are on every request's path: orjson is
        # several times faster than the standard library at both ends (bench/recommend.py).
        options: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}
        if self.dialect == "postgresql":
            options |= {"pool_size": pool_size, "max_overflow": pool_size}
        if self.dialect == "sqlite":
            self._sqlite_connect = _sqlite_connect_arguments(self.url)
            options |= {"async_creator": _inline_sqlite_connector(self._sqlite_connect)}
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        self._lock_waits = _LockWaits()
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine, self._lock_waits)
            # Same pool; the option only tells SQLite's BEGIN hook that this transaction only reads.
            self._readers = self.engine.execution_options(oo_sqlite_begin="BEGIN")
        else:
            _check_pooled_connections(self.engine)
            # Under READ COMMITTED every statement reads its own snapshot, in a transaction or not; a read
            # runs without one, sparing the BEGIN and COMMIT round trips (two of a decision's ten).
            self._readers = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sqlite_writer = asyncio.Lock()
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointer_lock = threading.Lock()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[UnitOfWork]:
        """One transaction: committed when the block ends, rolled back on error. With `write=False` on
        Postgres, each statement runs on its own (ADR 0019); on SQLite a read is one snapshot.

        After-commit callbacks (event dispatch) run only once the commit has succeeded.
        """
        engine = self.engine if write else self._readers
        # SQLite has one writer at a time; waiting for it in SQLite's busy handler means sleeping in
        # steps of up to 100 ms. Queue this process's writers here instead (reads run concurrently).
        queue = self._sqlite_writer if write and self.dialect == "sqlite" else nullcontext()
        async with queue, engine.connect() as connection, connection.begin():
            uow = UnitOfWork(connection, self.dialect)
            yield uow
        await uow.run_after_commit()

    @property
    def writer_waiting_for_another_process(self) -> bool:
        """Whether a writer of this process is waiting for SQLite's write lock, held by another process."""
        return self._lock_waits.count > 0

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def checkpoint(self) -> None:
        """Copy SQLite's write-ahead log into the database file, off the event loop (Postgres: nothing).

        Run four times a second by the api and worker processes: left to SQLite, a checkpoint runs inside
        whichever commit crosses the log's threshold — on the event loop's thread (ADR 0013), where it
        stalled requests for milliseconds (p99 at 100 req/s 15–18 ms with, 6 ms without).

        The log starts over only when a writer begins after a checkpoint has copied all of it. Under
        steady writes, a pass off the loop never leaves it so: writers append while it copies. The log
        then grew to the safety net, whose checkpoint inside a commit stalled requests for 100–300 ms.
        So once the log is long, a second pass runs between this process's writers, with only what
        they appended during the first left to copy (1–13 ms measured at 100 req/s); the next writer
        starts the log over.
        """
        if self.dialect != "sqlite":
            return
        log_pages = await asyncio.to_thread(self._checkpoint_passively)
        if log_pages >= CHECKPOINT_FINISH_PAGES:
            async with self._sqlite_writer:
                await asyncio.to_thread(self._checkpoint_passively)

    def _checkpoint_passively(self) -> int:
        """The log's length in pages; PASSIVE copies what it can and never blocks a reader or writer."""
        with self._checkpointer_lock:
            if self._checkpointer is None:
                self._checkpointer = _open_sqlite(*self._sqlite_connect)
            _busy, log_pages, _copied_pages = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(log_pages)

    async def dispose(self) -> None:
        await self.engine.dispose()
        with self._checkpointer_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _check_pooled_connections(engine: AsyncEngine) -> None:
    """Hand out no dead Postgres connection, without the three round trips a ping costs on every checkout
    (SQLAlchemy's `pool_pre_ping`: six of a decision's sixteen). A connection the server closed (a
    restart, a terminated backend) is known closed to asyncpg already; one idle for long is pinged."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["oo_idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed this connection")
        idle_since = record.info.get("oo_idle_since")
        if idle_since is not None and time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS:
            try:
                dbapi_connection.ping()
            except Exception as error:
                raise DisconnectionError("this connection did not answer a ping") from error


@dataclass
class _LockWaits:
    count: int = 0


def _configure_sqlite(engine: AsyncEngine, lock_waits: _LockWaits) -> None:
    # pysqlite's implicit transactions give neither snapshot reads nor a write lock taken up front;
    # SQLAlchemy's documented recipe: let us emit BEGIN ourselves. Writers take the lock at BEGIN
    # (IMMEDIATE) so a read-then-write transaction never fails on a stale snapshot.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # No statement on the event loop's thread ever waits for a lock: a wait there would stop every
        # request, `/health` included. A writer that finds the lock taken waits on a thread instead.
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Checkpoints run on a thread of their own (`Database.checkpoint`); this much larger threshold
        # (~40 MB of log instead of ~4 MB) is only the safety net of a process that never runs them.
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_SAFETY_NET_PAGES}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        statement = connection.get_execution_options().get("oo_sqlite_begin", "BEGIN IMMEDIATE")
        if statement == "BEGIN IMMEDIATE":
            _begin_writing(connection.connection.dbapi_connection, lock_waits)
        else:  # a read: in WAL mode no writer, in this process or another, ever makes it wait
            connection.exec_driver_sql(statement)


def _begin_writing(dbapi_connection: Any, lock_waits: _LockWaits) -> None:
    """Take SQLite's write lock: at once on the event loop's thread when it is free (nearly always, as
    this process's writers queue in `Database.transaction`); when another process holds it, wait for
    it on the connection's own thread, the loop serving everyone else meanwhile."""
    cursor = dbapi_connection.cursor()
    try:
        try:
            cursor.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
        driver: _InlineSqliteConnection = dbapi_connection.driver_connection
        driver.off_loop, lock_waits.count = True, lock_waits.count + 1
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_WRITER_WAIT_MS}")
            try:
                cursor.execute("BEGIN IMMEDIATE")
            finally:
                cursor.execute("PRAGMA busy_timeout=0")
        finally:
            driver.off_loop, lock_waits.count = False, lock_waits.count - 1
    finally:
        cursor.close()


class _InlineSqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection, its statements run on the event loop's thread rather than handed to its own.

    A statement on a local SQLite file takes tens of microseconds; aiosqlite hands each call (cursor,
    execute, fetch, close: four per statement) to its thread and back, and the hand-offs cost more than
    the statements (measured: ADR 0013). Writers are serialised in `Database.transaction` anyway.
    The thread stays for what SQLAlchemy sends it directly (connecting, the isolation level), and for a
    writer waiting for another process to release the write lock (`_begin_writing`).
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._thread.daemon = True  # as SQLAlchemy does for its own aiosqlite connections
        self.off_loop = False  # set while a statement may wait for a lock: it runs on the thread

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.off_loop:
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def _sqlite_connect_arguments(url: str) -> SqliteConnectArguments:
    """The arguments SQLAlchemy itself would connect with (file name, the URL's options).

    Connections are opened on one thread and used on another (aiosqlite's and the loop's; the
    checkpoint's executor threads): hence check_same_thread=False.
    """
    parsed = make_url(url)
    args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
    return list(args), {**kwargs, "check_same_thread": False}


def _open_sqlite(args: list[Any], kwargs: dict[str, Any]) -> sqlite3.Connection:
    """`sqlite3.connect`, the database file made owner-only first if missing: SQLite creates its -wal
    and -shm files with the database file's mode, so all three are private from the start."""
    filename = str(args[0]) if args else ""
    if filename not in ("", ":memory:") and not kwargs.get("uri"):
        create_owner_only(filename)
    connection: sqlite3.Connection = sqlite3.connect(*args, **kwargs)
    return connection


def _inline_sqlite_connector(arguments: SqliteConnectArguments) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    async def connect() -> aiosqlite.Connection:
        return await _InlineSqliteConnection(partial(_open_sqlite, *arguments))

    return connect
