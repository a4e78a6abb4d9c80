"""The page meets a person's life, in a real browser: a task of one's own in one line, a habit done today."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser

from tests.page_harness import DESKTOP, PHONE, SMALL_PHONE, Server, open_page, screenshot, until, wait_for_face
from tests.test_page_sheet import SHEET_FITS

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
    done = page.get_by_role("button", name="Done today: stretch")
    done.focus()
    page.keyboard.press("Enter")  # keyboard-reachable
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
