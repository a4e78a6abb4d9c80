"""Every file oO writes in its data directory is readable and writable by its owner only, whoever made
the directory and whatever the umask: the SQLite database with its -wal and -shm files, and the keys."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.bootstrap import bootstrap
from services.kernel.private_files import create_owner_only
from tests.conftest import fresh_postgres_url, make_settings, new_user_with_token

WRITTEN = {
    "sqlite": {
        "oo.sqlite3",
        "oo.sqlite3-wal",
        "oo.sqlite3-shm",
        "receipt.key",
        "vault-keyring.json",
        "auth-signing-keys.json",
    },
    "postgres": {"receipt.key", "vault-keyring.json", "auth-signing-keys.json"},
}


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


async def test_files_in_a_directory_open_to_everyone_are_owner_only(tmp_path: Path, backend, request, monkeypatch):
    url = await fresh_postgres_url(request.getfixturevalue("postgres_cluster")) if backend == "postgres" else None
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o777)  # made by someone else, open to every user of the machine
    # A mode set after creation leaves the file open meanwhile: only the mode it is created with counts.
    monkeypatch.setattr(os, "chmod", lambda *_args, **_kwargs: None)
    with umask(0):
        container = bootstrap(make_settings(data_dir, url))
        try:
            await container.prepare_storage()
            await new_user_with_token(container)  # a write: SQLite's log and its index exist now
            modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in data_dir.iterdir()}
        finally:
            await container.close()
    assert modes == dict.fromkeys(WRITTEN[backend], 0o600)


LEAVE_WAL_MODE = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
try:
    print(connection.execute("PRAGMA journal_mode=DELETE").fetchone()[0])
except sqlite3.OperationalError as error:
    print(error)
"""


def test_making_sure_the_database_file_exists_keeps_this_process_s_sqlite_locks(tmp_path: Path):
    """Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's too. Had
    the existence check opened the database, another process could take it over while this one's
    connections used it: here, switch it out of WAL mode (the last connection's clean-up does as much)."""
    path = tmp_path / "oo.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        assert holder.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
        holder.execute("CREATE TABLE notes (body TEXT)")  # the connection is in use: it holds its locks
        create_owner_only(path)  # as each new connection of this process does first
        other = subprocess.run(
            [sys.executable, "-c", LEAVE_WAL_MODE, str(path)], capture_output=True, text=True, check=True, timeout=60
        )
        assert other.stdout.strip() == "database is locked"
    finally:
        holder.close()
