"""Run and inspect migrations from code: start-up, `oo db upgrade`, `/ready` and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from services.kernel.database import Database

_HERE = Path(__file__).parent
_PG_MIGRATION_LOCK = 7_202_611  # advisory lock id: two processes starting at once migrate one at a time


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.set_main_option("sqlalchemy.url", url)
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def upgrade_to_head(database: Database) -> None:
    config = alembic_config(database.url)

    def _upgrade(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with database.engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def current_revision(database: Database) -> str | None:
    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with database.engine.connect() as connection:
        return await connection.run_sync(_current)


async def migration_problem(database: Database) -> str | None:
    """None when the database is at head; else what is wrong (for `/ready`)."""
    current, head = await current_revision(database), head_revision()
    return None if current == head else f"database at revision {current}, code expects {head}"
