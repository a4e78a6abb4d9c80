"""Every file oO writes in its data directory is readable and writable by its owner only, whoever made
the directory and whatever the umask: the SQLite database with its -wal and -shm files, and the keys."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.bootstrap import bootstrap
from tests.conftest import fresh_postgres_url, make_settings, new_user_with_token

WRITTEN = {
    "sqlite": {"oo.sqlite3", "oo.sqlite3-wal", "oo.sqlite3-shm", "receipt.key", "vault-keyring.json"},
    "postgres": {"receipt.key", "vault-keyring.json"},
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
