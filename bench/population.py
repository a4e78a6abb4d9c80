"""The request benchmark's people and databases: 100 askers given real signals through oO's API, the
rest of the population cloned in bulk into SQLite (sqlite3 `executemany`) or Postgres (asyncpg binary
`COPY`), in the shapes oO's columns store; and `oo serve` started on them."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx

from services.auth.tokens import mint_token
from tests.postgres_cluster import PostgresCluster, free_port

OO = [sys.executable, "-m", "services"]
# 100 people with full task lists (a Todoist user has dozens open): spread over them, a run's asks
# leave candidates outside their cooldowns, so each ask is a real decision, not "nothing left".
ASKERS = 100
TASKS_PER_ASKER = 60


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
        if process.poll() is not None:
            break
    raise RuntimeError(f"{url} never became ready")


def serve_oo(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [*OO, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_ready(f"http://127.0.0.1:{port}/ready", process)
    return process


class Store(Protocol):
    """One case's database, written and read directly (not through oO), in the shapes oO's columns store."""

    env: dict[str, str]  # what `oo serve` needs to find it

    def moment(self, value: datetime) -> Any: ...  # a UtcDateTime column's value
    def identifier(self, value: uuid.UUID) -> Any: ...  # a Uuid column's value
    async def open(self) -> None: ...
    async def insert(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None: ...
    async def fetchrow(self, query: str) -> tuple: ...
    async def commit(self) -> None: ...
    async def finish(self) -> None: ...  # the population is complete: commit it and settle it on disk
    async def close(self) -> None: ...


class SqliteStore:
    """oO's embedded database file, written with sqlite3's `executemany`."""

    def __init__(self, data_dir: Path) -> None:
        self.env: dict[str, str] = {}
        self._path = data_dir / "oo.sqlite3"
        self._connection: sqlite3.Connection | None = None

    def moment(self, value: datetime) -> str:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLite keeps naive UTC text

    def identifier(self, value: uuid.UUID) -> str:
        return value.hex  # SQLAlchemy's Uuid on SQLite: 32 hex digits

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._connection is not None
        return self._connection

    async def open(self) -> None:
        self._connection = sqlite3.connect(self._path)

    async def insert(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        marks = ", ".join("?" for _ in columns)
        self._db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    async def fetchrow(self, query: str) -> tuple:
        return tuple(self._db.execute(query).fetchone())

    async def commit(self) -> None:
        self._db.commit()

    async def finish(self) -> None:
        self._db.commit()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class PostgresStore:
    """A database of its own in the benchmark's cluster, bulk-loaded with asyncpg's binary COPY."""

    def __init__(self, url: str) -> None:
        self.env = {"DATABASE_URL": url}
        self._url = url
        self._connection: Any = None

    def moment(self, value: datetime) -> datetime:
        return value

    def identifier(self, value: uuid.UUID) -> uuid.UUID:
        return value

    async def open(self) -> None:
        self._connection = await asyncpg.connect(self._url)

    async def insert(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        await self._connection.copy_records_to_table(table, records=rows, columns=list(columns))

    async def fetchrow(self, query: str) -> tuple:
        return tuple(await self._connection.fetchrow(query))

    async def commit(self) -> None:
        pass  # each COPY commits on its own

    async def finish(self) -> None:
        # Setup, not workload: freshly copied tables get the statistics and visibility map autovacuum
        # would give them (not mid-measurement), and their pages are flushed before oO is measured.
        await self._connection.execute("VACUUM ANALYZE")
        await self._connection.execute("CHECKPOINT")

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


class Backend(Protocol):
    """Where oO and the floor keep their data in one run: a fresh database per case."""

    name: str

    def case(self, data_dir: Path) -> AbstractContextManager[Store]: ...
    def floor(self, data_dir: Path) -> AbstractContextManager[dict[str, str]]: ...  # the floor app's env


@dataclass
class Sqlite:
    name: str = "sqlite"

    @contextmanager
    def case(self, data_dir: Path) -> Iterator[Store]:
        yield SqliteStore(data_dir)

    @contextmanager
    def floor(self, data_dir: Path) -> Iterator[dict[str, str]]:
        yield {"FLOOR_DATA_DIR": str(data_dir)}


@dataclass
class Postgres:
    cluster: PostgresCluster
    name: str = "postgres"

    @contextmanager
    def database(self) -> Iterator[str]:
        """A new database, dropped after the case: the 100k-user population alone is gigabytes."""
        name = f"bench_{uuid.uuid4().hex[:12]}"
        asyncio.run(self._admin(f"CREATE DATABASE {name}"))
        try:
            yield self.cluster.url(name)
        finally:
            asyncio.run(self._admin(f"DROP DATABASE {name} WITH (FORCE)"))

    async def _admin(self, statement: str) -> None:
        admin = await asyncpg.connect(self.cluster.admin_url)
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    @contextmanager
    def case(self, data_dir: Path) -> Iterator[Store]:
        with self.database() as url:
            yield PostgresStore(url)

    @contextmanager
    def floor(self, data_dir: Path) -> Iterator[dict[str, str]]:
        with self.database() as url:
            yield {"FLOOR_DATA_DIR": str(data_dir), "FLOOR_DATABASE_URL": url}


def signals(now: datetime) -> list[dict]:
    def event(kind: str, payload: dict) -> dict:
        return {
            "id": str(uuid.uuid4()),
            "type": kind,
            "occurred_at": (now - timedelta(minutes=2)).isoformat(),
            "payload": payload,
        }

    return [
        event("recommender.context_observed.v1", {"timezone": "Europe/Berlin", "device_class": "phone"}),
        event("profile.checkin_recorded.v1", {"energy": 3, "mood": 3}),
        *[
            event(
                "profile.habit_defined.v1",
                {"habit_id": habit_id, "name": name, "window_start_hour": 0, "window_end_hour": 24},
            )
            for habit_id, name in (("walk", "a walk"), ("stretch", "stretching"), ("read", "reading"))
        ],
        *[
            event(
                "integrations.task_added.v1",
                {
                    "task_id": f"t{i}",
                    "title": f"Task {i}",
                    "estimated_minutes": 5 + i % 40,
                    "priority": 1 + i % 4,
                    "due": (now + timedelta(hours=i * 2 - 20)).isoformat(),
                },
            )
            for i in range(TASKS_PER_ASKER)
        ],
    ]


def populate(store: Store, env: dict[str, str], users: int, events_per_asker: int) -> list[str]:
    """Askers get real signals through the API; the rest of the population is cloned in bulk."""
    port = free_port()
    server = serve_oo(env, port)  # it migrates the database the population goes into
    try:
        tokens = asyncio.run(_populate(store, port, users, events_per_asker))
    finally:
        server.terminate()
        server.wait(timeout=15)
    # 100k people's states are ~5 GB: written back to disk while the server is measured, they made its
    # writes and checkpoints wait on the disk (p99 33–315 ms at 100k users only). Setup, not workload.
    os.sync()
    return tokens


USER_COLUMNS = ("user_id", "kind", "status", "created_at")
TOKEN_COLUMNS = ("token_id", "user_id", "name", "secret_sha256", "scopes", "created_at", "revoked_at")
FEATURE_COLUMNS = ("user_id", "state", "updated_at")
POLICY_COLUMNS = ("user_id", "policy_version", "observations", "state", "updated_at")
EVENT_COLUMNS = (
    "event_id",
    "type",
    "user_id",
    "occurred_at",
    "recorded_at",
    "source",
    "schema_version",
    "payload",
)


async def _populate(store: Store, port: int, users: int, events_per_asker: int) -> list[str]:
    now = datetime.now(UTC)
    stamp = store.moment(now)
    askers = [(f"usr_asker{index:04d}", mint_token()) for index in range(ASKERS)]
    scopes = json.dumps(["tips", "events:write"])
    await store.open()
    try:
        await store.insert("auth_users", USER_COLUMNS, [(user_id, "regular", "active", stamp) for user_id, _ in askers])
        await store.insert(
            "auth_api_tokens",
            TOKEN_COLUMNS,
            [(token.token_id, user_id, "bench", token.secret_sha256, scopes, stamp, None) for user_id, token in askers],
        )
        await store.commit()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _, token in askers:
                headers = {"Authorization": f"Bearer {token.plaintext}"}
                response = await client.post("/v1/events", json={"events": signals(now)}, headers=headers)
                assert response.status_code == 200, response.text
                for _ in range(3):
                    body = (await client.post("/v1/recommend", json={}, headers=headers)).json()
                    if body["tip"]:
                        await client.post(
                            "/v1/feedback",
                            json={"decision_id": body["decision_id"], "reaction": "later"},
                            headers=headers,
                        )
        await _bulk_population(store, users - ASKERS, stamp)
        await _bulk_events(store, events_per_asker, now)
        await store.finish()
    finally:
        await store.close()
    return [token.plaintext for _, token in askers]


async def _bulk_population(store: Store, count: int, stamp: object) -> None:
    """Clones of one asker's feature and policy state (the JSON as stored, so the same shapes)."""
    feature, version, policy = await store.fetchrow(
        "SELECT f.state, p.policy_version, p.state FROM recommender_feature_state f "
        "JOIN recommender_policy_state p USING (user_id) LIMIT 1"
    )
    for start in range(0, count, 10_000):
        ids = [f"usr_pop{i:07d}" for i in range(start, min(start + 10_000, count))]
        await store.insert("auth_users", USER_COLUMNS, [(u, "regular", "active", stamp) for u in ids])
        await store.insert("recommender_feature_state", FEATURE_COLUMNS, [(u, feature, stamp) for u in ids])
        await store.insert("recommender_policy_state", POLICY_COLUMNS, [(u, version, 5, policy, stamp) for u in ids])


async def _bulk_events(store: Store, per_asker: int, now: datetime) -> None:
    payload = json.dumps({"energy": 3, "mood": 3})
    recorded = store.moment(now)
    for index in range(ASKERS):
        rows = [
            (
                store.identifier(uuid.uuid4()),
                "profile.checkin_recorded.v1",
                f"usr_asker{index:04d}",
                store.moment(now - timedelta(minutes=per_asker - i)),
                recorded,
                "bench",
                1,
                payload,
            )
            for i in range(per_asker)
        ]
        await store.insert("events_store", EVENT_COLUMNS, rows)


async def decision_mix(store: Store) -> str:
    """What the measured decisions were: with candidates to rank, and with a tip shown."""
    await store.open()
    try:
        total, ranked, shown = await store.fetchrow(
            "SELECT count(*), sum(CASE WHEN candidates != '[]' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN chosen IS NOT NULL THEN 1 ELSE 0 END) FROM recommender_decisions"
        )
    finally:
        await store.close()
    return f"{total:,} decisions: {ranked / total:.0%} ranked candidates, {shown / total:.0%} showed a tip"


async def add_leaving_person(store: Store, user_id: str, events: int, *, exists: bool) -> str:
    """A person with `events` check-ins (made a user unless one `exists`) and a token that may delete the
    account; the token's plaintext. The events go in batches of 50,000: a list of all of them is large."""
    now = datetime.now(UTC)
    token = mint_token()
    scopes = json.dumps(["tips", "events:write", "account:read", "account:delete"])
    payload = json.dumps({"energy": 3, "mood": 3})
    await store.open()
    try:
        if not exists:
            await store.insert("auth_users", USER_COLUMNS, [(user_id, "regular", "active", store.moment(now))])
        row = (token.token_id, user_id, "leaving", token.secret_sha256, scopes, store.moment(now), None)
        await store.insert("auth_api_tokens", TOKEN_COLUMNS, [row])
        for start in range(0, events, 50_000):
            rows = [
                (
                    store.identifier(uuid.uuid4()),
                    "profile.checkin_recorded.v1",
                    user_id,
                    store.moment(now - timedelta(seconds=events - i)),
                    store.moment(now),
                    "bench",
                    1,
                    payload,
                )
                for i in range(start, min(start + 50_000, events))
            ]
            await store.insert("events_store", EVENT_COLUMNS, rows)
        await store.finish()
    finally:
        await store.close()
    return token.plaintext
