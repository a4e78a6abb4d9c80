"""The page's test harness: a real `oo serve` on the embedded default, Debian's Chromium driven by
Playwright (never `playwright install`), screenshots kept under `test-artifacts/`."""

from __future__ import annotations

import json
import os
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


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Per test: sync Playwright keeps an event loop running while it is open, which would break the
    suite's asyncio tests sharing this worker process."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/setup --test installs Debian's chromium")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh person: a new `oo serve` on its own SQLite, in local mode (no login on loopback)."""
    port = free_port()
    env = _env(tmp_path, OO_LOG_LEVEL="WARNING", OO_TIP_HOLD_SECONDS="3600")
    url = f"http://127.0.0.1:{port}"
    with running(env, "serve", "--port", str(port), url=f"{url}/ready"), httpx.Client(base_url=url) as api:
        yield Server(url, api)


def open_page(
    browser: Browser, server: Server, viewport: ViewportSize = PHONE, *, clock: bool = False, **options: Any
) -> Page:
    """A new browser context on the page, the face shown. With `clock`, the page's timers run on
    Playwright's clock: time flows as usual, and `page.clock.run_for(ms)` moves it on at once."""
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
        ("profile.checkin_recorded.v1", {"energy": 4, "mood": 4}),
        ("profile.habit_defined.v1", walk),
        *tasks,
    )
    # The policy may choose silence; ask until it shows a tip, which the page then gets (held).
    for _ in range(30):
        if server.api.post("/v1/recommend", json={}).json()["tip"]:
            return
    raise AssertionError("silence every time")


UNDO_MS = 5000


def let_go(page: Page) -> None:
    """Past the undo window, on the page's clock: the held reaction goes."""
    page.clock.run_for(UNDO_MS)


def reactions(server: Server) -> list[tuple[str | None, str | None]]:
    return [(d["reaction"], d["reason"]) for d in server.decisions() if d["reaction"]]
