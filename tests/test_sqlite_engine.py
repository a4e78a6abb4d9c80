"""The embedded SQLite engine: statements on the loop's thread, its log checkpointed off it (ADR 0013)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import text

from services.kernel import database as database_module
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


def _log_pages(path: Path) -> int:
    with closing(sqlite3.connect(path)) as connection:
        _busy, log_pages, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(log_pages)


async def test_a_log_a_pass_could_not_copy_whole_is_finished_between_writers_and_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(database_module, "CHECKPOINT_FINISH_PAGES", 10)
    path = tmp_path / "engine.sqlite3"
    database = Database(f"sqlite:///{path}")
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # the pass runs on a thread
    try:
        async with database.transaction() as uow:
            await uow.connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        await _write_rows(database, 20)
        # A reader's snapshot keeps the first pass from copying what is written after it, as a
        # writer appending during the pass does under steady load.
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM notes").fetchone()
        await _write_rows(database, 20)
        passes = 0
        real_pass = database._checkpoint_passively

        def pass_then_the_reader_finishes() -> int:
            nonlocal passes
            passes += 1
            log_pages = real_pass()
            if passes == 1:
                reader.execute("COMMIT")
            return log_pages

        monkeypatch.setattr(database, "_checkpoint_passively", pass_then_the_reader_finishes)
        await database.checkpoint()
        assert passes == 2

        await _write_rows(database, 1)
        # The log started over: it holds the last write's few pages, not the 40 rows before it.
        assert _log_pages(path) <= 4
    finally:
        reader.close()
        await database.dispose()
