"""Files readable and writable by their owner only, from the moment they exist.

The data directory may have been made by someone else, open to every user of the machine, and the
process's umask may be anything: each file gets its mode when it is created, never in a chmod after.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

OWNER_ONLY = 0o600


def create_owner_only(path: str | os.PathLike[str]) -> None:
    """Create `path` empty and owner-only unless it exists (an existing file keeps its mode).

    An existing file is never opened: closing any descriptor of a file releases every POSIX lock this
    process holds on it, and SQLite's locks are POSIX locks. Opening and closing the database file
    while this process's connections held their locks let another process write over them: the
    database was reported malformed within seconds of `oo` commands running beside `oo serve`.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, OWNER_ONLY))


def read_or_make_key(path: Path, size: int = 32) -> bytes:
    """A per-installation secret, made on first use (see `read_or_make`)."""
    return read_or_make(path, lambda: secrets.token_bytes(size))


def read_or_make(path: Path, make: Callable[[], bytes]) -> bytes:
    """The file's content, written from `make()` first if the file does not exist.

    Written whole to an owner-only temporary file (mkstemp's mode) and then linked into place, so no
    reader ever finds it half-written, and of two processes starting at once the first one's wins.
    """
    if not path.exists():
        temporary = _written_aside(path, make())
        try:
            with contextlib.suppress(FileExistsError):  # another process made it first: theirs is the one
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    return path.read_bytes()


def replace_owner_only(path: Path, content: bytes) -> None:
    """Replace the file's content at once: a reader finds the old content or the new, never a mix."""
    temporary = _written_aside(path, content)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _written_aside(path: Path, content: bytes) -> str:
    """An owner-only temporary file beside `path`, holding `content`, flushed to disk."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary
