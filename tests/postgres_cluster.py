"""A throwaway Postgres cluster on loopback, started by the test suite itself.

initdb and postgres refuse to run as root, so as root they run as the `postgres` user
(reference/machine.md). Each test gets its own database, cloned from a migrated template.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    on_path = shutil.which(name)
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or ([on_path] if on_path else [])
    if not found:
        raise RuntimeError(
            f"Postgres' {name} is not installed. `scripts/test` installs it (apt-get install postgresql); "
            "run that, or install the Debian package postgresql."
        )
    return str(found[-1])


@dataclass
class PostgresCluster:
    directory: Path
    port: int
    _as_postgres: bool

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database (for a benchmark's case); its URL."""
        self._run(_binary("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    @classmethod
    def start(cls) -> PostgresCluster:
        as_postgres = os.geteuid() == 0
        directory = Path(tempfile.mkdtemp(prefix="oo-pg-"))
        if as_postgres:
            shutil.chown(directory, "postgres", "postgres")
        cluster = cls(directory, free_port(), as_postgres)
        cluster._run(
            _binary("initdb"), "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        cluster.resume()
        return cluster

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def resume(self) -> None:
        """Start the server (again), and return once it listens."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off -c synchronous_commit=off "
            f"-c full_page_writes=off -c unix_socket_directories={self.directory} -c max_connections=200"
        )
        log = str(self.directory / "log")
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        self._wait_ready()

    def pause(self) -> None:
        """Stop the server as an operator's restart does (`fast`: sessions are ended, in-flight
        transactions rolled back), keeping its data for `resume`."""
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"Postgres did not listen on port {self.port}; see {self.directory / 'log'}")

    def stop(self) -> None:
        """Stop the server, if it runs (a test may have paused it), and remove its files."""
        try:
            prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
            status = subprocess.run([*prefix, _binary("pg_ctl"), "-D", str(self.data), "status"], capture_output=True)
            if status.returncode != 3:  # pg_ctl's "no server running"
                self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
