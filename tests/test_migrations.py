"""The migration history against the tables the code declares, and the outbox's move to a queue table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from services.bootstrap import bootstrap
from services.migrations.runner import upgrade_to_head
from services.migrations.schema import target_metadata
from tests.conftest import downgrade_to, empty_postgres_url, make_settings, upgrade_to


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            # procrastinate's own tables (ADR 0032) are installed from its schema file, not declared here.
            "include_name": lambda name, kind, _parent: not (kind == "table" and str(name).startswith("procrastinate")),
        },
    )
    return list(compare_metadata(context, target_metadata))


async def test_the_migrated_schema_is_the_schema_the_code_declares(container):
    async with container.database.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_the_queue_table_migration_queues_exactly_what_was_unpublished_and_downgrades(tmp_path, backend, request):
    url = None
    if backend == "postgres":
        url = await empty_postgres_url(request.getfixturevalue("postgres_cluster"))
    container = bootstrap(make_settings(tmp_path, url))
    database = container.database
    at = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    insert = text(
        "INSERT INTO events_store (event_id, type, user_id, occurred_at, recorded_at, source, schema_version, "
        "payload, published_at) VALUES (:event_id, 'profile.checkin_recorded.v1', 'usr_a', :at, :at, 'test', 1, "
        ":payload, :published_at)"
    )
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(upgrade_to(database, "0015"))
            for published in (at, None, at, None):
                event_id = uuid.uuid4() if backend == "postgres" else uuid.uuid4().hex
                await connection.execute(
                    insert,
                    {"event_id": event_id, "at": at, "payload": '{"energy": 3, "mood": 3}', "published_at": published},
                )
        await upgrade_to_head(database)
        async with database.engine.connect() as connection:
            queued = (await connection.execute(text("SELECT seq FROM events_outbox ORDER BY seq"))).scalars().all()
        assert queued == [2, 4]

        async with database.engine.begin() as connection:
            await connection.run_sync(downgrade_to(database, "0015"))
        async with database.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT seq FROM events_store WHERE published_at IS NULL ORDER BY seq")
            )
            assert rows.scalars().all() == [2, 4]
            tables = await connection.run_sync(lambda sync: sync.dialect.get_table_names(sync))
        assert "events_outbox" not in tables
    finally:
        await database.dispose()
