"""The first-run step that asks a new person for their tasks, in a real browser: offered once after the
check-in, answered by Not now or by a task in one line, and never offered again on that account."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page

from tests.page_harness import (
    DESKTOP,
    SMALL_PHONE,
    Server,
    open_page,
    reactions,
    screenshot,
    tip_text,
    wait_for_new_tip,
)

STEP = "What's on your list? Connect your tasks, or add one."
HABIT_STEP = "Name one small habit you'd like to keep."
CHECKED_IN = ("profile.checkin_recorded.v1", {"energy": 3, "mood": 4})
# Every visible control of the step, wholly on the screen.
ON_SCREEN = """() => [...document.querySelectorAll('#tasks-prompt *, #text')].filter((e) => e.checkVisibility())
  .map((e) => e.getBoundingClientRect())
  .every((r) => r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight)"""


def answers(server: Server) -> list[dict[str, Any]]:
    return [e["payload"] for e in server.export()["events"]["events"] if e["type"] == "profile.first_run_answered.v1"]


def shows_the_step(page: Page) -> bool:
    return tip_text(page) == STEP and page.locator("#tasks-prompt").is_visible()


def test_the_tasks_step_comes_once_and_not_now_holds_across_a_reload(browser: Browser, server: Server) -> None:
    server.signals(CHECKED_IN)
    page = open_page(browser, server, SMALL_PHONE)
    assert shows_the_step(page)
    assert page.locator("#kind").inner_text() == "first step"
    assert page.get_by_role("button", name="Connect Todoist").is_hidden()  # this server has no Todoist app
    assert page.locator("#actions").is_hidden()  # Not now is the step's own way out, recorded
    assert page.evaluate(ON_SCREEN)
    screenshot(page, "first-run-tasks-320")
    page.set_viewport_size(DESKTOP)
    assert page.evaluate(ON_SCREEN)
    screenshot(page, "first-run-tasks-desktop")

    page.get_by_label("A task in one line").focus()  # keyboard: the line, Add a task, Not now
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Not now"
    page.keyboard.press("Enter")
    assert wait_for_new_tip(page, STEP) == HABIT_STEP
    assert answers(server) == [{"step": "tasks", "answer": "not_now"}]
    assert reactions(server) == [("dismiss", None)]

    page.reload()
    page.wait_for_timeout(300)
    assert tip_text(page) == HABIT_STEP
    again = open_page(browser, server, DESKTOP)  # another device of the same account
    assert tip_text(again) == HABIT_STEP
    assert again.locator("#tasks-prompt").is_hidden()


def test_a_task_added_in_the_step_ends_it(browser: Browser, server: Server) -> None:
    server.signals(CHECKED_IN)
    page = open_page(browser, server, SMALL_PHONE)
    assert shows_the_step(page)
    line = page.get_by_label("A task in one line")
    line.fill("Paint the house 900m")
    page.get_by_role("button", name="Add a task").click()
    assert page.locator("#step-task-understood").inner_text() == "At most 10 h of effort: split it up."
    assert answers(server) == []  # a refused line answers nothing

    line.fill("Call mum 10m")
    line.press("Enter")
    wait_for_new_tip(page, STEP)
    assert not shows_the_step(page)
    [added] = [e["payload"] for e in server.export()["events"]["events"] if e["type"] == "integrations.task_added.v2"]
    assert (added["title"], added["estimated_minutes"]) == ("Call mum", 10)
    assert answers(server) == [{"step": "tasks", "answer": "task_added"}]

    page.reload()
    page.wait_for_timeout(300)
    assert not shows_the_step(page)
