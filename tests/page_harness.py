"""The page's test harness: a real `oo serve` on the embedded default, Debian's Chromium driven by
Playwright (never `playwright install`), screenshots kept under `test-artifacts/`.

Chromium and `oo serve` start once per test process; each test gets a fresh person (the last one's
local user deleted) and fresh browser contexts."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, ViewportSize, sync_playwright

from tests.events_factory import daytime_zone
from tests.postgres_cluster import free_port
from tests.test_processes import _env, running

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("OO_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
# reference/machine.md: what keeps Debian's Chromium quiet and offline under a root, headless CI.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PHONE = ViewportSize(width=390, height=844)
SMALL_PHONE = ViewportSize(width=320, height=568)
DESKTOP = ViewportSize(width=1280, height=800)


@dataclass
class Server:
    url: str
    api: httpx.Client
    feedback_posts: list[dict[str, Any]] = field(default_factory=list)

    def signals(self, *events: tuple[str, dict[str, Any]]) -> None:
        at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        batch = [{"id": str(uuid.uuid4()), "type": t, "occurred_at": at, "payload": p} for t, p in events]
        response = self.api.post("/v1/events", json={"events": batch})
        assert response.status_code == 200, response.text

    def export(self) -> dict[str, Any]:
        response = self.api.get("/v1/me/export")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def decisions(self) -> list[dict[str, Any]]:
        return list(self.export()["recommender"]["decisions"])


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Chromium for the whole session, its DevTools endpoint on loopback; ready when it has written the
    port it listens on (`DevToolsActivePort` in its profile)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/setup --test installs Debian's chromium")
    profile = tmp_path_factory.mktemp("chromium")
    arguments = [*CHROMIUM_ARGS, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"]
    with (profile / "chromium.log").open("w") as log:
        process = subprocess.Popen(
            [str(CHROMIUM), *arguments, f"--user-data-dir={profile}", "about:blank"], stdout=log, stderr=log
        )
    try:
        port = _wait_for_line(profile / "DevToolsActivePort", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_for_line(path: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 180  # a bound for a Chromium that never starts; readiness is polled
    while time.monotonic() < deadline:
        if path.exists() and (lines := path.read_text().splitlines()):
            return lines[0]
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"Chromium did not start; see {path.parent / 'chromium.log'}")


@pytest.fixture
def browser(chromium: str) -> Iterator[Browser]:
    """The session's Chromium, connected per test: sync Playwright keeps an event loop running while it
    is open, which would break the suite's asyncio tests sharing this worker process."""
    with sync_playwright() as driver:
        browser = driver.chromium.connect_over_cdp(chromium)
        yield browser
        browser.close()  # closes the contexts this test made


@pytest.fixture(scope="session")
def oo_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`oo serve` for the whole session, on its own SQLite, in local mode (no login on loopback)."""
    port = free_port()
    env = _env(tmp_path_factory.mktemp("page-oo"), OO_LOG_LEVEL="WARNING", OO_TIP_HOLD_SECONDS="3600")
    url = f"http://127.0.0.1:{port}"
    with running(env, "serve", "--port", str(port), url=f"{url}/ready"):
        yield url


@pytest.fixture
def server(oo_serve: str) -> Iterator[Server]:
    """A fresh person: the previous test's local user is deleted, so the page's first request makes a
    new one, with no signals, no decisions and the first-run steps ahead."""
    with httpx.Client(base_url=oo_serve) as api:
        response = api.delete("/v1/me")
        assert response.status_code == 202, response.text
        yield Server(oo_serve, api)


def open_page(
    browser: Browser, server: Server, viewport: ViewportSize = PHONE, *, clock: bool = False, **options: Any
) -> Page:
    """A new browser context on the page, the face shown. With `clock`, the page's timers run on
    Playwright's clock: time flows as usual, and `page.clock.run_for(ms)` moves it on at once."""
    options.setdefault("timezone_id", daytime_zone())  # by day, whenever the suite runs
    context: BrowserContext = browser.new_context(viewport=viewport, **options)
    if clock:
        context.clock.install()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfinished", lambda request: _record_feedback(server, request))
    page.goto(server.url + "/")
    wait_for_face(page)
    assert errors == [], errors
    return page


def _record_feedback(server: Server, request: Request) -> None:
    if request.url.endswith("/v1/feedback") and request.method == "POST":
        response = request.response()
        server.feedback_posts.append({"body": request.post_data_json, "status": response and response.status})


def api_requests(page: Page) -> list[str]:
    """The page's requests to the API from now on, as `METHOD /path`, appended as they go out."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(f"{r.method} {r.url.split('/', 3)[3]}") if "/v1/" in r.url else None)
    return seen


def until(page: Page, expression: str, arg: Any = None, timeout: float = 15.0) -> Any:
    """Poll `expression` (a JS function of `arg`) until it is truthy. Playwright's wait_for_function
    evaluates its predicate with eval, which the page's Content-Security-Policy rightly forbids; the
    tests keep that policy on, so they poll from here."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        page.wait_for_timeout(25)


def wait_for_face(page: Page) -> None:
    until(page, "() => document.getElementById('face').getAttribute('aria-busy') === 'false'")


def tip_text(page: Page) -> str:
    return page.locator("#text").inner_text().strip()


def wait_for_new_tip(page: Page, before: str) -> str:
    until(
        page,
        "before => { const t = document.getElementById('text').textContent.trim();"
        " return t && t !== before && !document.getElementById('face').classList.contains('changing'); }",
        before,
    )
    return tip_text(page)


def screenshot(page: Page, name: str) -> Path:
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


def record(name: str, values: dict[str, Any]) -> None:
    path = ARTIFACTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2))


def a_full_day(server: Server) -> None:
    """Signals enough that ordinary tips (not first-run steps) come."""
    now = datetime.now(UTC)
    tasks = [
        (
            "integrations.task_added.v1",
            {
                "task_id": f"t{i}",
                "title": title,
                "estimated_minutes": 10 + 5 * i,
                "priority": 1 + i % 4,
                "due": (now + timedelta(hours=6 * i - 30)).isoformat(),
            },
        )
        for i, title in enumerate(["Reply to Sam", "Renew passport", "Book the dentist", "Water the plants"])
    ]
    walk = {"habit_id": "walk", "name": "a short walk", "window_start_hour": 0, "window_end_hour": 24}
    server.signals(
        ("recommender.context_observed.v1", {"timezone": daytime_zone(), "device_class": "phone"}),
        ("profile.checkin_recorded.v1", {"energy": 4, "mood": 4}),
        ("profile.habit_defined.v1", walk),
        *tasks,
    )
    # The policy may choose silence, which then stays the answer until a new signal: each silence is
    # followed by one (the same check-in), and the next ask decides anew. The tip shown is held for the page.
    for _ in range(30):
        if server.api.post("/v1/recommend", json={}).json()["tip"]:
            return
        server.signals(("profile.checkin_recorded.v1", {"energy": 4, "mood": 4}))
    raise AssertionError("silence every time")


UNDO_MS = 5000


def let_go(page: Page) -> None:
    """Past the undo window, on the page's clock: the held reaction goes."""
    page.clock.run_for(UNDO_MS)


def reactions(server: Server) -> list[tuple[str | None, str | None]]:
    return [(d["reaction"], d["reason"]) for d in server.decisions() if d["reaction"]]
