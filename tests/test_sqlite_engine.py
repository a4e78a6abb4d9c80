"""The embedded SQLite engine: statements on the loop's thread, its log checkpointed off it (ADR 0013)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from services.kernel.database import WAL_SAFETY_NET_PAGES, Database


async def _write_rows(database: Database, count: int) -> None:
    for i in range(count):
        async with database.transaction() as uow:
            await uow.connection.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": f"{i:04d}" * 1000})


async def test_the_write_ahead_log_is_checkpointed_by_the_checkpointer_not_inside_commits(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'engine.sqlite3'}")
    wal = tmp_path / "engine.sqlite3-wal"
    try:
        async with database.transaction() as uow:
            await uow.connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
            threshold = (await uow.connection.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar_one()
        assert threshold == WAL_SAFETY_NET_PAGES

        await _write_rows(database, 40)  # ~40 pages: far below the safety net, so no commit checkpoints
        grown = wal.stat().st_size
        await _write_rows(database, 40)
        assert wal.stat().st_size > grown  # nothing copied the log back: it only grows

        await database.checkpoint()
        settled = wal.stat().st_size
        for _ in range(40):
            await _write_rows(database, 1)
            await database.checkpoint()
        # Each checkpoint copied the whole log, so the next commit wrote from its start again.
        assert wal.stat().st_size == settled
        async with database.transaction(write=False) as uow:
            count = (await uow.connection.execute(text("SELECT count(*) FROM notes"))).scalar_one()
        assert count == 120
    finally:
        await database.dispose()
