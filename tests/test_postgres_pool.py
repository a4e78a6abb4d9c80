"""Postgres connections in the pool: none is handed out dead, and none is pinged on every checkout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.engine import make_url

from services.app import create_app
from services.bootstrap import bootstrap
from services.kernel import database as database_module
from tests.conftest import LOOPBACK, fresh_postgres_url, make_settings


def _pooled(container: Any) -> list[Any]:
    """The asyncpg connections resting in the pool (SQLAlchemy's queue of connection records)."""
    records = list(container.database.engine.sync_engine.pool._pool._queue._queue)  # asyncio.Queue's deque
    return [record.dbapi_connection.driver_connection for record in records if record.dbapi_connection is not None]


async def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"never {what}"
        await asyncio.sleep(0.01)


async def _asks(postgres_cluster: Any, tmp_path: Any, *, terminate: bool) -> list[int]:
    url = await fresh_postgres_url(postgres_cluster)
    container = bootstrap(make_settings(tmp_path / "data", url))
    await container.prepare_storage()
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    admin = await asyncpg.connect(postgres_cluster.admin_url)
    database = make_url(url).database
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as c:
            assert (await c.post("/v1/recommend", json={})).status_code == 200  # the local user; the pool warmed
            assert _pooled(container)
            if terminate:  # as a restart of the server would: every backend of the database ends
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
                )
                await _until(lambda: all(c.is_closed() for c in _pooled(container)), "saw the connections closed")
            return [(await c.post("/v1/recommend", json={})).status_code for _ in range(3)]
    finally:
        await admin.close()
        await container.database.dispose()


async def test_connections_the_server_closed_are_replaced_not_handed_out(postgres_cluster, tmp_path):
    assert await _asks(postgres_cluster, tmp_path, terminate=True) == [200, 200, 200]


async def test_a_busy_pool_pings_no_connection_and_an_idle_one_is_pinged(postgres_cluster, tmp_path, monkeypatch):
    """A ping is three round trips (BEGIN, a query, ROLLBACK); an ask checks a connection out twice (its read,
    its record), so pinging on every checkout made six of its sixteen."""
    pings: list[object] = []
    ping = AsyncAdapt_asyncpg_connection.ping

    def counted(connection: AsyncAdapt_asyncpg_connection) -> None:
        pings.append(connection)
        ping(connection)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    assert await _asks(postgres_cluster, tmp_path, terminate=False) == [200, 200, 200]
    assert pings == []
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", -1.0)  # every connection idle "too long"
    assert await _asks(postgres_cluster, tmp_path, terminate=False) == [200, 200, 200]
    assert len(pings) >= 2 * 3
