"""Shared fixtures: every storage test runs on SQLite and on a real Postgres the suite starts itself."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import itertools
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import Connection

from services.app import create_app
from services.auth.tokens import parse_token
from services.bootstrap import Container, bootstrap
from services.events.settings import EventsSettings
from services.gateway.settings import GatewaySettings
from services.kernel.database import Database
from services.kernel.logging import configure_logging
from services.migrations.runner import alembic_config, upgrade_to_head
from services.recommender.settings import RecommenderSettings
from services.settings import CoreSettings, DatabaseSettings, Settings
from tests.postgres_cluster import PostgresCluster

# Fixtures of the page's tests (browser, server), of the LLM tests (the LiteLLM proxy) and of the
# Todoist tests (the simulator and a webhook receiver) and of the calendar tests (Radicale, an ICS web
# server, the Google simulator), of the login tests (an OIDC provider) and of the JetStream relay's
# tests (nats-server).
pytest_plugins = [
    "tests.page_harness",
    "tests.litellm_proxy",
    "tests.todoist_sim",
    "tests.calendar_servers",
    "tests.oidc_provider",
    "tests.nats_server",
]

BACKENDS = ["sqlite", "postgres"]
LOOPBACK = "http://127.0.0.1:8000"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The cluster, with `oo_template` migrated to head for per-test clones."""
    cluster = PostgresCluster.start()
    try:
        # Requested lazily from inside async fixtures, whose loop is running: migrate on a thread.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _make_template(cluster)).result()
        yield cluster
    finally:
        cluster.stop()


async def _make_template(cluster: PostgresCluster) -> None:
    admin = await asyncpg.connect(cluster.admin_url)
    await admin.execute("CREATE DATABASE oo_template")
    await admin.close()
    database = Database(cluster.url("oo_template"))
    await upgrade_to_head(database)
    await database.dispose()


async def new_postgres_database(cluster: PostgresCluster, *, migrated: bool) -> str:
    """A new database's URL: cloned from the migrated template, or empty (no tables at all)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(cluster.admin_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}" + (" TEMPLATE oo_template" if migrated else ""))
    finally:
        await admin.close()
    return cluster.url(name)


async def fresh_postgres_url(cluster: PostgresCluster) -> str:
    return await new_postgres_database(cluster, migrated=True)


async def empty_postgres_url(cluster: PostgresCluster) -> str:
    return await new_postgres_database(cluster, migrated=False)


def make_settings(data_dir: Path, database_url: str | None, **gateway: object) -> Settings:
    return Settings(
        core=CoreSettings(data_dir=data_dir, deletion_resume_seconds=3600),
        database=DatabaseSettings(database_url=database_url),
        gateway=GatewaySettings(**gateway),  # type: ignore[arg-type]
        events=EventsSettings(),
        recommender=RecommenderSettings(),
    )


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything oO logs during the test, at DEBUG, as the processes render it (JSON lines)."""
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().handlers = []


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    url = None
    if backend == "postgres":
        url = await fresh_postgres_url(request.getfixturevalue("postgres_cluster"))
    return make_settings(tmp_path / "data", url)


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    container = bootstrap(settings)
    container.recommender.service.seed_source = itertools.count(1).__next__  # reproducible decisions
    await container.prepare_storage()
    yield container
    await container.jobs.close()
    await container.database.dispose()


@pytest.fixture
async def app(container: Container) -> AsyncIterator[FastAPI]:
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
        yield client


@pytest.fixture
async def multi_user(settings: Settings) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    """A deployment without local mode: every request needs a token, and every consent waits for a yes."""
    container = bootstrap(dataclasses.replace(settings, gateway=GatewaySettings(local_mode=False)))
    await container.prepare_storage()
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
            yield container, client
    await container.database.dispose()


async def new_user_with_token(container: Container, *scopes: str) -> tuple[str, str]:
    """A user made through the auth module's API, and a token for it (all scopes unless given)."""
    from oo_contracts.identity import ALL_SCOPES, Scope

    async with container.database.transaction() as uow:
        user_id = await container.auth.identity.create_user(uow)
        token = await container.auth.identity.issue_token(
            uow, user_id, scopes=[Scope(s) for s in scopes] if scopes else ALL_SCOPES
        )
    return user_id, token.plaintext


def upgrade_to(database: Database, revision: str) -> Callable[[Connection], None]:
    """For `connection.run_sync`: migrate to `revision`, where a migration's test starts from."""
    config = alembic_config(database.url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return run


def downgrade_to(database: Database, revision: str) -> Callable[[Connection], None]:
    """For `connection.run_sync`: migrate back down to `revision`."""
    config = alembic_config(database.url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    return run


def secret_of(token: str) -> str:
    """A token's secret part. Not `rsplit("_")`: a URL-safe secret may itself hold underscores, and the
    part after the last one can be a character or two that any row or log line contains."""
    parsed = parse_token(token)
    assert parsed is not None, "not a well-formed token"
    return parsed[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(autouse=True)
def _no_developer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own OO_*, LITELLM_*, DATABASE_URL or NATS_URL must not steer the tests.
    for key in list(os.environ):
        if key.startswith(("OO_", "LITELLM_")) or key in ("DATABASE_URL", "NATS_URL"):
            monkeypatch.delenv(key)
