"""The page meets a person's life, in a real browser: a task of one's own in one line, a habit done today,
and Connections — Todoist's whole OAuth round trip against the simulator, through a real `oo serve`
whose Todoist app is the simulator's and whose callback is the simulator's redirect URI."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError

from tests.page_harness import DESKTOP, PHONE, SMALL_PHONE, Server, open_page, screenshot, until, wait_for_face
from tests.postgres_cluster import free_port
from tests.test_page_sheet import SHEET_FITS
from tests.test_processes import _env, running
from tests.todoist_sim import CLIENT_ID, CLIENT_SECRET, TodoistSim, serve, simulator_app

SAID = "said => document.getElementById('settings-status').textContent === said"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def events_of(server: Server, kind: str) -> list[dict[str, Any]]:
    return [e for e in server.export()["events"]["events"] if e["type"] == kind]


# ---- a task of one's own, in one line --------------------------------------------------------------

TODAY = "2026-11-28"  # a Saturday
GRAMMAR = [  # (line, title, minutes, due day, problem)
    ("Call mum 10m tomorrow", "Call mum", 10, "2026-11-29", None),
    ("Pay rent today", "Pay rent", None, TODAY, None),
    ("Write report 45m fri", "Write report", 45, "2026-12-04", None),
    ("Write report fri 45min", "Write report", 45, "2026-12-04", None),
    ("Taxes 2026-12-15", "Taxes", None, "2026-12-15", None),
    ("Read 1984", "Read 1984", None, None, None),  # a number is not a due
    ("Friday notes for Sam", "Friday notes for Sam", None, None, None),  # only the end is read
    ("Today", "Today", None, None, None),  # a title is never emptied
    ('"Plan today" sat', "Plan today", None, TODAY, None),  # the weekday of today is today
    ("Walk the dog 1h30m tmr", "Walk the dog", 90, "2026-11-29", None),
    ("Stretch 1.5h monday", "Stretch", 90, "2026-11-30", None),
    ("Fix the form 2026-02-30", "Fix the form 2026-02-30", None, None, None),  # no such day
    ("Paint the house 900m", "Paint the house", 900, None, "At most 10 h of effort: split it up."),
    ("   ", "", None, None, "Write what to do first."),
]


def test_the_quick_add_grammar_in_the_page(browser: Browser, server: Server) -> None:
    page = open_page(browser, server, DESKTOP)
    parsed = page.evaluate(
        """async ([lines, today]) => {
          const { parseTask, describeTask } = await import('/quickadd.js');
          const read = (line) => parseTask(line, today);
          return lines.map(read).map((task) => ({ ...task, said: describeTask(task, today) }));
        }""",
        [[line for line, *_ in GRAMMAR], TODAY],
    )
    got = [(p["title"], p["estimated_minutes"], p["due_date"], p["problem"]) for p in parsed]
    assert got == [tuple(case[1:]) for case in GRAMMAR]
    assert [p["said"] for p in parsed[:5]] == [
        "“Call mum” · 10 min · due tomorrow",
        "“Pay rent” · due today",
        "“Write report” · 45 min · due Friday",
        "“Write report” · 45 min · due Friday",
        "“Taxes” · due 2026-12-15",
    ]
    # Today is the account's: late on Saturday in Tokyo is still Saturday morning in Los Angeles.
    days = page.evaluate(
        """async () => { const { todayIn } = await import('/quickadd.js'); const at = new Date('2026-11-28T20:00:00Z');
          return [todayIn('Asia/Tokyo', at), todayIn('America/Los_Angeles', at)]; }"""
    )
    assert days == ["2026-11-29", "2026-11-28"]


def test_a_task_in_one_line_goes_with_its_day_in_the_account_zone(browser: Browser, server: Server) -> None:
    zone = "Pacific/Kiritimati"  # UTC+14: its tomorrow is rarely the device's (UTC−8) tomorrow
    server.signals(("profile.timezone_set.v1", {"timezone": zone}))
    page = open_page(browser, server, PHONE, timezone_id="America/Los_Angeles")
    page.keyboard.press("a")  # from the face, straight to the field
    field = page.get_by_label("New task")
    until(page, "() => document.activeElement?.id === 'task-line'")
    field.press_sequentially("Paint the house 900m")
    assert page.locator("#task-understood").inner_text() == "At most 10 h of effort: split it up."
    field.press("Enter")
    until(page, SAID, "At most 10 h of effort: split it up.")
    assert page.get_by_role("dialog", name="Settings").is_visible()  # Enter did not close the sheet

    field.fill("Call mum 10m tomorrow")
    understood = "“Call mum” · 10 min · due tomorrow"
    assert page.locator("#task-understood").inner_text() == understood  # said before it is added
    before = datetime.now(ZoneInfo(zone)).date()
    field.press("Enter")
    until(page, SAID, f"Added {understood}")
    after = datetime.now(ZoneInfo(zone)).date()
    [added] = events_of(server, "integrations.task_added.v2")
    assert UUID.match(added["id"]), added["id"]
    payload = {k: v for k, v in added["payload"].items() if v is not None}
    assert payload.pop("task_id").startswith("task-")
    assert payload.pop("due_date") in {str(before + timedelta(days=1)), str(after + timedelta(days=1))}
    assert payload == {"title": "Call mum", "estimated_minutes": 10, "priority": 1}
    assert field.input_value() == ""

    wait_for_face(page)  # the face asked again with the new task; the message outlives that
    page.wait_for_timeout(1500)
    assert page.locator("#settings-status").inner_text() == f"Added {understood}"
    page.get_by_role("button", name="Add task").click()  # moving on: the next action says its own
    until(page, SAID, "Write what to do first.")
    screenshot(page, "quick-add-phone")


# ---- a habit done today ------------------------------------------------------------------------------


def test_a_habit_done_today_from_the_sheet(browser: Browser, server: Server) -> None:
    stretch = {"habit_id": "stretch", "name": "stretch", "window_start_hour": 0, "window_end_hour": 24}
    server.signals(("profile.habit_defined.v1", stretch))
    page = open_page(browser, server, SMALL_PHONE)
    page.keyboard.press("s")
    # Keyboard-reachable: the button focused, then Enter. The sheet may draw its list again as its reads
    # come back in between; the focus stays on the button of the same name.
    page.get_by_role("button", name="Done today: stretch").focus()
    page.keyboard.press("Enter")
    until(page, SAID, "stretch: done today.")
    assert page.locator("#habits li .done-today").inner_text() == "done today"
    assert page.evaluate("document.activeElement.className") == "done-today"  # focus not lost to the page
    [habit] = server.api.get("/v1/me/settings").json()["habits"]
    assert (habit["done_count"], habit["done_today"]) == (1, True)
    assert [e["payload"] for e in events_of(server, "profile.habit_done.v1")] == [{"habit_id": "stretch"}]

    page.get_by_role("button", name="Close").click()
    page.keyboard.press("s")  # read back from the server: still done, and no second button
    until(page, "() => document.querySelector('#habits .done-today') !== null")
    assert page.get_by_role("button", name="Done today: stretch").count() == 0
    fits = page.evaluate(SHEET_FITS)
    assert fits == {"on_screen": True, "close_on_top": True, "spill": []}, fits
    screenshot(page, "habit-done-small-phone")


# ---- connections: what the list says, whatever the provider ----------------------------------------


def test_without_a_todoist_app_or_a_google_client_the_sheet_offers_neither(browser: Browser, server: Server) -> None:
    listed = server.api.get("/v1/me/integrations").json()["integrations"]
    assert [i["provider"] for i in listed] == ["caldav", "ics"]
    page = open_page(browser, server, PHONE)
    page.keyboard.press("s")
    until(page, "() => document.querySelectorAll('#connections li').length === 2")
    assert page.locator("#connections-section").is_visible()
    providers = [li.get_attribute("data-provider") for li in page.locator("#connections li").all()]
    assert providers == ["caldav", "ics"]


def calendars(now: datetime) -> list[dict[str, Any]]:
    """The calendars, in every state a list can hold."""
    base = {"scopes": [], "completes_tasks": False, "consent_granted": True, "stale": False, "sync_error": None}
    base |= {"connected_at": None, "last_synced_at": None}
    three_min_ago = (now - timedelta(minutes=3)).isoformat()
    return [
        base
        | {"provider": "caldav", "status": "connected", "consent": "integration:caldav"}
        | {"last_synced_at": three_min_ago},
        base | {"provider": "google_calendar", "status": "broken", "consent": "integration:google_calendar"},
        base
        | {"provider": "ics", "status": "connected", "consent": "integration:ics", "stale": True}
        | {"sync_error": "unreachable", "last_synced_at": "2026-11-28T14:02:00+00:00"},
        base
        | {"provider": "todoist", "status": "not_connected", "consent": "integration:todoist"}
        | {"consent_granted": False},
    ]


def test_every_provider_in_the_list_shows_its_status_in_words(browser: Browser, server: Server) -> None:
    """Every state at once: the list is the contract's, answered by the test."""
    context = browser.new_context(viewport=DESKTOP, timezone_id="UTC")
    body = json.dumps({"integrations": calendars(datetime.now(UTC))})
    context.route("**/v1/me/integrations", lambda route: route.fulfill(body=body, content_type="application/json"))
    page = context.new_page()
    page.goto(server.url + "/")
    wait_for_face(page)
    page.keyboard.press("s")
    until(page, "() => document.querySelectorAll('#connections li').length === 4")
    said = {
        li.get_attribute("data-provider"): li.locator(".connection-status").inner_text()
        for li in page.locator("#connections li").all()
    }
    assert said == {
        "caldav": "Connected · read 3 min ago",
        "google_calendar": "Google Calendar stopped accepting oO — connect again",
        "ics": "Calendar link could not be reached; showing what was read at 14:02",
        "todoist": "Not connected",
    }
    # Each provider's controls, as its state calls for them.
    assert page.get_by_role("button", name="Refresh CalDAV calendar now").is_visible()
    assert page.get_by_role("button", name="Connect again Google Calendar").is_visible()
    assert page.get_by_role("button", name="Disconnect Calendar link").is_visible()
    assert page.get_by_role("button", name="Connect Todoist").is_visible()
    screenshot(page, "connections-desktop")


RESULTS = {
    "connected": "Todoist connected — reading your tasks",
    "access_denied": "You did not allow oO in Todoist — nothing changed",
    "bad_code": "That link expired — try connecting again",
    "state_unknown": "That link expired — try connecting again",
    "app_credentials": "This server's Todoist app is misconfigured",
    "not_allowed": "oO may not use Todoist: it is off in Permissions — try connecting again",
    "unreachable": "Todoist could not be reached — try again in a moment",
    "provider_error": "Todoist had a problem on its side — try again later",
}
CHECKED = "on => document.querySelector('#connections [role=switch]')?.getAttribute('aria-checked') === on"
COMPLETING = "Todoist connected — Done in oO completes tasks there"  # back with the completing switch on


def test_every_return_from_todoist_is_said_in_words_and_leaves_the_address(browser: Browser, server: Server) -> None:
    page = open_page(browser, server, PHONE)
    for result, words in RESULTS.items():
        page.goto(f"{server.url}/?integration=todoist&result={result}")
        settled(page, SAID, words)
        assert page.evaluate("location.pathname + location.search") == "/"
        assert page.get_by_role("dialog", name="Settings").is_visible()
    page.reload()  # the address no longer says it: a reload does not say it again
    wait_for_face(page)
    assert not page.get_by_role("dialog", name="Settings").is_visible()


def settled(page: Page, expression: str, arg: Any = None, timeout: float = 30.0) -> Any:
    """`until`, across navigations: while the page goes to the provider and back, there is no document
    to ask."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return until(page, expression, arg, timeout=max(0.1, deadline - time.monotonic()))
        except PlaywrightError:
            if time.monotonic() > deadline:
                raise
            page.wait_for_timeout(50)


# ---- Todoist, the whole round trip -------------------------------------------------------------------


@pytest.fixture(scope="module")
def todoist_oo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TodoistSim]]:
    """A simulator whose oO app sends the person back to a real `oo serve`'s callback, and that server,
    its Todoist app pointed at the simulator; every ask decides anew, so a new task can show at once."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    callback = f"{url}/v1/integrations/todoist/callback"
    with serve(simulator_app(redirect_uri=callback)) as sim_url, httpx.Client(timeout=10) as http:
        env = _env(
            tmp_path_factory.mktemp("page-todoist"),
            OO_LOG_LEVEL="WARNING",
            OO_TIP_HOLD_SECONDS="0",
            OO_HOLD_SILENCE="false",
            OO_TODOIST_CLIENT_ID=CLIENT_ID,
            OO_TODOIST_CLIENT_SECRET=CLIENT_SECRET,
            OO_TODOIST_REDIRECT_URI=callback,
            OO_TODOIST_API_URL=sim_url,
            OO_TODOIST_OAUTH_URL=f"{sim_url}/oauth",  # Todoist's OAuth base, as `…/authorize` is under it
        )
        with running(env, "serve", "--port", str(port), url=f"{url}/ready"):
            yield url, TodoistSim(sim_url, http)


@pytest.fixture
def linked(todoist_oo: tuple[str, TodoistSim]) -> Iterator[tuple[Server, TodoistSim]]:
    """A fresh person on the Todoist-linked server, and the simulator emptied."""
    url, sim = todoist_oo
    sim.control("POST", "/_sim/reset")
    with httpx.Client(base_url=url, timeout=30) as api:
        assert api.delete("/v1/me").status_code == 202
        yield Server(url, api), sim


SETTLED = """() => { const face = document.getElementById('face');
  return face.getAttribute('aria-busy') === 'false' && !face.classList.contains('changing'); }"""

STATUS = "words => document.querySelector('#connections li[data-provider=todoist] .connection-status')?.textContent.startsWith(words)"  # noqa: E501


def connect_todoist(page: Page, control: str = "Connect Todoist") -> None:
    page.get_by_role("button", name=control).click()
    settled(page, SAID, RESULTS["connected"])
    assert page.evaluate("location.pathname + location.search") == "/"
    settled(page, STATUS, "Connected · read")  # the first read ran in the background


def test_todoist_round_trip_on_the_page(browser: Browser, linked: tuple[Server, TodoistSim]) -> None:
    server, sim = linked
    stretch = {"habit_id": "stretch", "name": "stretch", "window_start_hour": 0, "window_end_hour": 1}
    server.signals(("profile.checkin_recorded.v1", {"energy": 4, "mood": 4}), ("profile.habit_defined.v1", stretch))
    page = open_page(browser, server, DESKTOP)
    went: list[str] = []
    page.on("request", lambda r: went.append(r.url) if r.is_navigation_request() else None)
    page.keyboard.press("s")
    until(page, STATUS, "Not connected")
    connect_todoist(page)
    assert any("/oauth/authorize" in url for url in went)
    assert any("/v1/integrations/todoist/callback" in url for url in went)
    consents = [(r["purpose"], r["granted"], r["how"]) for r in server.export()["consents"]["history"]]
    assert consents == [("integration:todoist", True, "page")]  # granted with the words shown, then connected
    state = {i["provider"]: i for i in server.api.get("/v1/me/integrations").json()["integrations"]}["todoist"]
    assert (state["status"], state["completes_tasks"]) == ("connected", False)
    switch = page.get_by_role("switch", name="Done in oO completes it in Todoist")
    assert switch.get_attribute("aria-checked") == "false"
    for viewport in (SMALL_PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        page.get_by_role("button", name="Disconnect Todoist").scroll_into_view_if_needed()
        fits = page.evaluate(SHEET_FITS)
        assert fits == {"on_screen": True, "close_on_top": True, "spill": []}, (viewport, fits)
        screenshot(page, f"todoist-connected-{viewport['width']}")

    # A task written in Todoist after the first read: Refresh now brings it to the face.
    sim.control("POST", "/_sim/users/demo/tasks", {"content": "Water the fern", "due_string": "today", "priority": 4})
    page.get_by_role("button", name="Refresh Todoist now").click()
    until(page, SAID, "Todoist read just now.")
    page.get_by_role("button", name="Close").click()
    for _ in range(80):  # the policy may explore elsewhere, or keep silent, first: each ask decides anew
        until(page, SETTLED)
        if "Water the fern" in page.locator("#text").inner_text():
            break
        page.reload()
    assert "Water the fern" in page.locator("#text").inner_text()
    screenshot(page, "todoist-task-tip-desktop")

    # Done in oO completes it in Todoist: a new grant, for which Todoist asks again.
    page.keyboard.press("s")
    switch = page.get_by_role("switch", name="Done in oO completes it in Todoist")
    assert "asks you again" in page.locator("#todoist-asks-again").inner_text()
    switch.click()
    settled(page, SAID, COMPLETING)
    settled(page, CHECKED, "true")
    state = {i["provider"]: i for i in server.api.get("/v1/me/integrations").json()["integrations"]}["todoist"]
    assert state["completes_tasks"] is True
    authorize = [url for url in went if "/oauth/authorize" in url]
    assert "data%3Aread_write" in authorize[-1] or "data:read_write" in authorize[-1]
    page.get_by_role("switch", name="Done in oO completes it in Todoist").click()  # back to reading only
    settled(page, SAID, RESULTS["connected"])
    settled(page, CHECKED, "false")

    page.get_by_role("button", name="Disconnect Todoist").click()
    page.get_by_role("button", name="Yes, disconnect").click()
    until(page, SAID, "Todoist disconnected; oO forgot what it read there.")
    until(page, STATUS, "Not connected")
    assert page.get_by_role("button", name="Connect Todoist").is_visible()
    state = {i["provider"]: i for i in server.api.get("/v1/me/integrations").json()["integrations"]}["todoist"]
    assert state["status"] == "not_connected"


KNOWS = "text => document.getElementById('knows').textContent.includes(text)"
KNOWS_NOT = "text => !document.getElementById('knows').textContent.includes(text)"


def test_what_oo_knows_follows_refresh_and_disconnect_without_reopening(
    browser: Browser, linked: tuple[Server, TodoistSim]
) -> None:
    server, sim = linked
    for content in ("Call Sam", "Water the fern", "Book the dentist"):
        sim.control("POST", "/_sim/users/demo/tasks", {"content": content, "due_string": "today"})
    page = open_page(browser, server, PHONE)
    page.keyboard.press("s")
    until(page, STATUS, "Not connected")
    connect_todoist(page)
    page.get_by_role("button", name="Refresh Todoist now").click()
    until(page, SAID, "Todoist read just now.")
    known = [i["text"] for group in server.api.get("/v1/me/knowledge").json().values() for i in group]
    assert "Todoist: connected" in known
    assert any(text.startswith("3 open tasks from Todoist") for text in known), known
    until(page, KNOWS, "3 open tasks from Todoist")  # read again after Refresh now, the sheet still open
    until(page, KNOWS, "Todoist: connected")
    assert page.get_by_role("button", name="Delete: Todoist: connected").is_visible()

    page.get_by_role("button", name="Disconnect Todoist").click()
    page.get_by_role("button", name="Yes, disconnect").click()
    until(page, SAID, "Todoist disconnected; oO forgot what it read there.")
    until(page, KNOWS_NOT, "from Todoist")
    until(page, KNOWS_NOT, "Todoist: connected")
    assert page.get_by_role("button", name="Delete: Todoist: connected").count() == 0
    assert page.get_by_role("dialog", name="Settings").is_visible()  # never closed and opened again
    known = [i["text"] for group in server.api.get("/v1/me/knowledge").json().values() for i in group]
    assert not [text for text in known if "from Todoist" in text or text.startswith("Todoist:")], known


def test_back_from_todoist_the_focus_is_on_todoists_row(browser: Browser, linked: tuple[Server, TodoistSim]) -> None:
    """The calendars are listed before Todoist: the focus goes to the provider returned from, not the first."""
    server, sim = linked
    page = open_page(browser, server, PHONE)
    page.keyboard.press("s")
    until(page, STATUS, "Not connected")
    providers = [li.get_attribute("data-provider") for li in page.locator("#connections li").all()]
    assert providers.index("caldav") < providers.index("todoist")
    connect_todoist(page)
    focused = "() => { const f = document.activeElement; return [f.closest('li')?.dataset.provider, f.getAttribute('aria-label')]; }"  # noqa: E501
    assert page.evaluate(focused) == ["todoist", "Refresh Todoist now"]
    page.keyboard.press("Enter")  # acts on Todoist
    until(page, SAID, "Todoist read just now.")

    sim.control("POST", "/_sim/authorize", {"user": "demo", "decision": "deny"})
    page.get_by_role("button", name="Disconnect Todoist").click()
    page.get_by_role("button", name="Yes, disconnect").click()
    until(page, STATUS, "Not connected")
    page.get_by_role("button", name="Connect Todoist").click()
    settled(page, SAID, RESULTS["access_denied"])
    assert page.evaluate(focused) == ["todoist", "Connect Todoist"]


def test_a_denied_todoist_changes_nothing_and_says_so(browser: Browser, linked: tuple[Server, TodoistSim]) -> None:
    server, sim = linked
    sim.control("POST", "/_sim/authorize", {"user": "demo", "decision": "deny"})
    page = open_page(browser, server, PHONE)
    page.keyboard.press("s")
    until(page, STATUS, "Not connected")
    page.get_by_role("button", name="Connect Todoist").click()
    settled(page, SAID, RESULTS["access_denied"])
    assert page.evaluate("location.pathname + location.search") == "/"
    settled(page, STATUS, "Not connected")
    assert page.get_by_role("button", name="Connect Todoist").is_visible()
    screenshot(page, "todoist-denied-phone")


def test_a_todoist_that_fails_shows_what_was_read_and_when(browser: Browser, linked: tuple[Server, TodoistSim]) -> None:
    server, sim = linked
    page = open_page(browser, server, PHONE, timezone_id="UTC")
    server.signals(("profile.timezone_set.v1", {"timezone": "UTC"}))
    page.keyboard.press("s")
    until(page, STATUS, "Not connected")
    connect_todoist(page)
    sim.control("POST", "/_sim/faults", {"status": 500, "count": 3})  # every try of the next read
    page.get_by_role("button", name="Refresh Todoist now").click()
    state = {i["provider"]: i for i in server.api.get("/v1/me/integrations").json()["integrations"]}
    read = datetime.fromisoformat(state["todoist"]["last_synced_at"]).astimezone(UTC).strftime("%H:%M")
    words = f"Todoist had a problem on its side; showing what was read at {read}"
    until(page, SAID, words, timeout=30)
    until(page, STATUS, words)
    screenshot(page, "todoist-stale-phone")


def test_the_first_run_tasks_step_connects_todoist(browser: Browser, linked: tuple[Server, TodoistSim]) -> None:
    server, _ = linked
    server.signals(("profile.checkin_recorded.v1", {"energy": 4, "mood": 4}))  # the step follows the check-in
    page = open_page(browser, server, PHONE)
    until(page, "() => document.getElementById('step-connect-todoist').checkVisibility()")
    page.get_by_role("button", name="Connect Todoist").click()
    settled(page, SAID, RESULTS["connected"])
    settled(page, STATUS, "Connected · read")
    answered = [e["payload"] for e in events_of(server, "profile.first_run_answered.v1")]
    assert answered == [{"step": "tasks", "answer": "connecting"}]
    page.get_by_role("button", name="Close").click()
    page.reload()
    until(page, SETTLED)
    assert page.locator("#tasks-prompt").is_hidden()  # answered: never offered again


def test_a_query_that_is_no_return_from_a_provider_is_left_alone(browser: Browser, server: Server) -> None:
    page = open_page(browser, server, PHONE)
    page.goto(f"{server.url}/?from=home")
    wait_for_face(page)
    assert page.evaluate("location.search") == "?from=home"
    assert not page.get_by_role("dialog", name="Settings").is_visible()
