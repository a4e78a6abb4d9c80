"""Calendar servers the calendar tests read, each real and on loopback, started once per session:
Radicale (a CalDAV server, as a subprocess with its own storage and plain htpasswd users), a small web
server for ICS links, and the Google Calendar simulator (oo_simulators)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from caldav.davclient import DAVClient

from tests.postgres_cluster import free_port

READY_DEADLINE_SECONDS = 30.0


def wait_until_listening(port: int, deadline: float = READY_DEADLINE_SECONDS) -> None:
    """Readiness, not a fixed sleep: poll the port until it accepts a connection."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def wait_until_closed(port: int, deadline: float = READY_DEADLINE_SECONDS) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"127.0.0.1:{port} still listens")


@dataclass
class Radicale:
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def users(self) -> Path:
        return self.root / "users"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "radicale",
                f"--storage-filesystem-folder={self.root / 'storage'}",
                "--auth-type=htpasswd",
                f"--auth-htpasswd-filename={self.users}",
                "--auth-htpasswd-encryption=plain",
                f"--server-hosts=127.0.0.1:{self.port}",
                "--logging-level=error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_listening(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
            wait_until_closed(self.port)

    def new_account(self) -> tuple[str, str]:
        """A fresh user (htpasswd is read again when it changes) with its password."""
        username, password = f"u{secrets.token_hex(6)}", secrets.token_urlsafe(12)
        with self.users.open("a") as users:
            users.write(f"{username}:{password}\n")
        return username, password

    def client(self, username: str, password: str) -> DAVClient:
        return DAVClient(url=self.url, username=username, password=password, timeout=10)


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    root = tmp_path_factory.mktemp("radicale")
    (root / "users").write_text("")
    server = Radicale(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def vevent(
    uid: str,
    start: datetime,
    minutes: int = 60,
    *,
    summary: str = "",
    extra: str = "",
    rrule: str | None = None,
) -> str:
    def stamp(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//oO tests//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        f"DTSTART:{stamp(start)}",
        f"DTEND:{stamp(start + timedelta(minutes=minutes))}",
        *([f"RRULE:{rrule}"] if rrule else []),
        *([f"SUMMARY:{summary}"] if summary else []),
        *extra.splitlines(),
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines)


class StaticFiles:
    """A tiny web server's content, per path: a body and a status, a delay, or a redirect."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[int, bytes]] = {}
        self.delay: float = 0.0
        self.redirects: dict[str, str] = {}
        self.requests: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0  # the most requests it answered at once

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        self.requests.append(path)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self._answer(path, send)
        finally:
            self.in_flight -= 1

    async def _answer(self, path: str, send) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if path in self.redirects:
            location = [(b"location", self.redirects[path].encode())]
            await send({"type": "http.response.start", "status": 302, "headers": location})
            await send({"type": "http.response.body", "body": b""})
            return
        status, body = self.bodies.get(path, (404, b"not found"))
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/calendar")]})
        await send({"type": "http.response.body", "body": body})


@dataclass
class LoopbackServer:
    """An ASGI app served by uvicorn on a thread, on a free loopback port."""

    app: object
    port: int = field(default_factory=free_port)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until_listening(self.port)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def ics_files() -> Iterator[tuple[StaticFiles, str]]:
    files = StaticFiles()
    server = LoopbackServer(files)
    server.start()
    try:
        yield files, server.url
    finally:
        server.stop()


class GoogleSim:
    """The Google simulator as a test drives it: its base URL and its `/_sim/` controls."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.control = httpx.Client(base_url=url, timeout=10)

    def register(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        body = {"client_id": client_id, "client_secret": client_secret, "redirect_uris": [redirect_uri]}
        self.control.post("/_sim/clients", json=body).raise_for_status()

    def next_consent(self, user: str, decision: str = "allow", scopes: list[str] | None = None) -> None:
        body: dict[str, object] = {"user": user, "decision": decision}
        if scopes is not None:
            body["scopes"] = scopes
        self.control.post("/_sim/consent", json=body).raise_for_status()

    def seed_busy(self, user: str, blocks: list[tuple[datetime, datetime]]) -> None:
        body = [
            {"start": s.isoformat().replace("+00:00", "Z"), "end": e.isoformat().replace("+00:00", "Z")}
            for s, e in blocks
        ]
        self.control.put(f"/_sim/users/{user}/busy", json=body).raise_for_status()

    def fault(self, user: str, *, status: int | None = None, reason: str | None = None, delay: float = 0.0) -> None:
        body = {"status": status, "reason": reason, "delay": delay, "count": 1}
        self.control.post(f"/_sim/users/{user}/faults", json=body).raise_for_status()

    def revoke_everything_of(self, user: str) -> None:
        self.control.post(f"/_sim/users/{user}/revoke").raise_for_status()

    def access_token_seconds(self, seconds: int) -> None:
        self.control.put("/_sim/access_token_seconds", json={"seconds": seconds}).raise_for_status()

    def calls(self, path: str) -> list[dict]:
        calls: list[dict] = self.control.get("/_sim/calls").json()
        return [call for call in calls if call["path"] == path]


@pytest.fixture(scope="session")
def google_sim() -> Iterator[GoogleSim]:
    from oo_simulators.google_calendar import create_app

    server = LoopbackServer(create_app())
    server.start()
    sim = GoogleSim(server.url)
    try:
        yield sim
    finally:
        sim.control.close()
        server.stop()
