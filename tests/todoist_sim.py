"""The Todoist simulator on loopback for the whole test session, and the pieces to point the real
`todoist-api-python` SDK at it.

    async def test_reads_a_task(todoist: TodoistSim) -> None:
        token = todoist.token(scope="data:read_write")
        todoist.control("POST", "/_sim/users/demo/tasks", {"content": "Call Sam", "due_string": "today"})
        async with todoist.sdk(token) as api:
            assert [t.content async for page in await api.filter_tasks(query="today") for t in page] == ["Call Sam"]

`todoist` resets the simulator before each test; `todoist_server` is the session's one server. The
simulator runs in a thread with its own event loop, so a test may call it synchronously (`control`)
or through the async SDK alike.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from todoist_api_python.api_async import TodoistAPIAsync

from oo_simulators.todoist import ClientApp, create_app

CLIENT_ID = "oo-test"
CLIENT_SECRET = "oo-test-secret"
REDIRECT_URI = "http://oo.test/integrations/todoist/callback"
# An app created before refresh tokens existed: one long-lived access token, no refresh.
LEGACY_CLIENT_ID = "oo-legacy"
LEGACY_CLIENT_SECRET = "oo-legacy-secret"
# The test's patience for a server to start: a safety net, the wait itself asks the server.
START_DEADLINE_SECONDS = 20.0
# Short enough to keep a retry test fast, long enough to order the attempts.
WEBHOOK_RETRY_SECONDS = 0.05

# What oO rewrites: the SDK's two origins.
TODOIST_ORIGINS = ("api.todoist.com", "todoist.com")


class RewritingTransport(httpx.AsyncBaseTransport):
    """Sends what the SDK addresses to Todoist's origins to the simulator instead, path and query kept."""

    def __init__(self, base_url: str) -> None:
        self._target = httpx.URL(base_url)
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host in TODOIST_ORIGINS:
            request.url = request.url.copy_with(
                scheme=self._target.scheme, host=self._target.host, port=self._target.port
            )
            request.headers["host"] = self._target.netloc.decode()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread; yield its base URL once it is listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class TodoistSim:
    """The running simulator: its URL, its control surface, and OAuth shortcuts for tests."""

    base_url: str
    http: httpx.Client

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.base_url}{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def transport(self) -> RewritingTransport:
        return RewritingTransport(self.base_url)

    def sdk(self, token: str) -> TodoistAPIAsync:
        return TodoistAPIAsync(token, client=httpx.AsyncClient(transport=self.transport()))

    def authorize(self, *, scope: str = "data:read_write", user: str = "demo", client_id: str = CLIENT_ID) -> str:
        """The code the person's consent redirects back with."""
        self.control("POST", "/_sim/authorize", {"user": user, "decision": "allow"})
        response = self.http.get(f"{self.base_url}/oauth/authorize", params={"client_id": client_id, "scope": scope})
        assert response.status_code == 302, response.text
        return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]

    def token(self, *, scope: str = "data:read_write", user: str = "demo") -> str:
        """A live access token for `user` (of the legacy app: no expiry to manage)."""
        code = self.authorize(scope=scope, user=user, client_id=LEGACY_CLIENT_ID)
        response = self.http.post(
            f"{self.base_url}/oauth/access_token",
            data={"client_id": LEGACY_CLIENT_ID, "client_secret": LEGACY_CLIENT_SECRET, "code": code},
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


@dataclass
class WebhookSink:
    """A webhook receiver: records every request and answers the scripted statuses, then 200."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    _arrived: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self._arrived:
            self.received.append((headers, body))
            status = self.statuses.popleft() if self.statuses else 200
            self._arrived.notify_all()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], bytes]]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} webhook deliveries arrived, not {count}")
            return list(self.received)

    def reset(self) -> None:
        with self._arrived:
            self.received.clear()
            self.statuses.clear()


def simulator_app(redirect_uri: str = REDIRECT_URI) -> Any:
    """The simulator with oO's two apps; `redirect_uri` is where Todoist sends the person back (a real
    oO's callback when a browser makes the round trip)."""
    return create_app(
        clients={
            CLIENT_ID: ClientApp(CLIENT_SECRET, redirect_uri, refresh_tokens=True),
            LEGACY_CLIENT_ID: ClientApp(LEGACY_CLIENT_SECRET, redirect_uri),
        },
        webhook_retry_seconds=WEBHOOK_RETRY_SECONDS,
    )


@pytest.fixture(scope="session")
def todoist_server() -> Iterator[TodoistSim]:
    """The session's one simulator."""
    with serve(simulator_app()) as base_url, httpx.Client(timeout=10) as http:
        yield TodoistSim(base_url, http)


@pytest.fixture
def todoist(todoist_server: TodoistSim) -> TodoistSim:
    """The simulator, emptied for this test."""
    todoist_server.control("POST", "/_sim/reset")
    return todoist_server


@pytest.fixture(scope="session")
def webhook_sink_server() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    with serve(sink) as base_url:
        sink.url = f"{base_url}/webhooks/todoist"
        yield sink


@pytest.fixture
def webhook_sink(webhook_sink_server: WebhookSink) -> WebhookSink:
    """A webhook receiver that has received nothing yet."""
    webhook_sink_server.reset()
    return webhook_sink_server
