"""The sheet's "What oO knows about me" in a real browser: the facts and what was learned, deleting one
fact, forgetting what was learned — by pointer and by keyboard, on a small phone and a desktop."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page

from tests.page_harness import DESKTOP, PHONE, SMALL_PHONE, Server, open_page, screenshot, until
from tests.test_page_sheet import SHEET_FITS

LEARNED = "You tend to act on habit reminders"


def habits_done_until_learned(server: Server) -> None:
    """Six habits for any hour, each done when oO offers it (anything else: Later), until the policy and
    the record both say so. A silence is held until a new signal: a check-in ends it."""
    habits = [
        (
            "profile.habit_defined.v2",
            {"habit_id": f"h{i}", "name": f"habit {i}", "window_start_hour": 0, "window_end_hour": 24},
        )
        for i in range(6)
    ]
    server.signals(("profile.checkin_recorded.v2", {"energy": 4, "mood": 4}), *habits)
    for _ in range(80):
        answer = server.api.post("/v1/recommend", json={}).json()
        if answer["tip"] is None:
            server.signals(("profile.checkin_recorded.v2", {"energy": 4}))
            continue
        reaction = "done" if answer["tip"]["source"] == "habit" else "later"
        response = server.api.post("/v1/feedback", json={"decision_id": answer["decision_id"], "reaction": reaction})
        assert response.status_code == 200, response.text
        if LEARNED in [s["text"] for s in server.api.get("/v1/me/knowledge").json()["learned"]]:
            return
    raise AssertionError("the policy learned nothing to say in eighty asks")


def knows(page: Page) -> str:
    return str(page.locator("#knows").inner_text())


def test_the_list_shows_a_habit_and_what_was_learned_and_each_goes(browser: Browser, server: Server) -> None:
    habits_done_until_learned(server)
    page = open_page(browser, server, SMALL_PHONE)
    page.keyboard.press("s")
    until(page, "learned => document.getElementById('knows').textContent.includes(learned)", LEARNED)
    # Which habits the policy offered, and so were done, is its draw: the page shows each record as kept.
    records = [h["text"] for h in server.api.get("/v1/me/knowledge").json()["habits"]]
    assert any(": done " in text for text in records)
    assert all(text in knows(page) for text in records)
    assert "Forget what you learned" in knows(page)
    assert page.get_by_role("button", name=f"Delete: {LEARNED}").count() == 0  # no Delete of its own: Forget
    screenshot(page, "knows-small-phone")

    page.get_by_role("button", name=re.compile(r"^Delete: habit 0:")).click()
    page.get_by_role("button", name="Yes, delete it", exact=True).click()
    until(page, "() => !document.getElementById('knows').textContent.includes('habit 0:')")
    until(page, "() => !document.getElementById('habits').textContent.includes('habit 0')")  # and from Habits
    assert "h0" not in [h["habit_id"] for h in server.api.get("/v1/me/settings").json()["habits"]]
    assert page.locator("#settings-status").inner_text().startswith("Deleted: habit 0:")

    # By keyboard: Tab reaches Forget from the list, Enter asks, and the safe answer holds the focus.
    page.get_by_role("button", name=re.compile(r"^Delete: habit 1:")).focus()
    for _ in range(40):
        if page.evaluate("() => document.activeElement.id") == "knows-forget":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "knows-forget"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.textContent") == "Keep it"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Yes, forget it"
    page.keyboard.press("Enter")
    until(page, "() => document.getElementById('knows-nothing-learned') !== null")
    assert LEARNED not in knows(page)
    assert server.api.get("/v1/me/knowledge").json()["learned"] == []
    assert "habit 1:" in knows(page)  # what the person gave stays
    page.context.close()


def test_the_list_fits_a_small_phone_and_a_desktop(browser: Browser, server: Server) -> None:
    server.signals(
        ("profile.checkin_recorded.v2", {"energy": 2, "mood": 5}),
        ("integrations.task_added.v2", {"task_id": "t-long", "title": "Write the very long quarterly report " * 3}),
        (
            "profile.habit_defined.v2",
            {"habit_id": "walk", "name": "a short walk", "window_start_hour": 7, "window_end_hour": 9},
        ),
    )
    for name, viewport in (("small-phone", SMALL_PHONE), ("desktop", DESKTOP)):
        page = open_page(browser, server, viewport)
        page.keyboard.press("s")
        until(page, "() => document.getElementById('knows').textContent.includes('a short walk')")
        delete = page.get_by_role("button", name=re.compile(r"^Delete: Write the very long"))
        delete.click()  # the longest a fact gets: its question open beneath it
        page.get_by_role("button", name="Yes, delete it", exact=True).scroll_into_view_if_needed()
        fits = page.evaluate(SHEET_FITS)
        screenshot(page, f"knows-{name}")
        assert fits == {"on_screen": True, "close_on_top": True, "spill": []}, (name, fits)
        page.get_by_role("button", name="Keep it", exact=True).click()
        assert page.evaluate("() => document.activeElement.textContent") == "Delete"  # back where it was
        page.context.close()


# Every heading and legend of the sheet as rendered (innerText applies the CSS text-transform).
HEADINGS = "() => [...document.querySelectorAll('#settings :is(h2, h3, legend)')].map((h) => h.innerText)"
NAME = re.compile(r"\boo\b", re.IGNORECASE)


def test_the_name_is_written_oo_in_every_heading_and_fact(browser: Browser, server: Server) -> None:
    page = open_page(browser, server, PHONE)
    page.keyboard.press("s")
    until(page, "() => document.getElementById('knows').textContent.includes('Forget what you learned')")
    named = [text for text in page.evaluate(HEADINGS) if NAME.search(text)]
    assert "what oO knows about me" in named  # the legends stay lowercase, the name does not
    assert "What oO learned" in named
    assert {word for text in named for word in NAME.findall(text)} == {"oO"}, named
    # The permission to process signals, in What oO knows: the server's words, the name kept.
    consents = [item["text"] for item in server.api.get("/v1/me/knowledge").json()["consents"]]
    assert "oO processing your signals: allowed (the default)" in consents, consents
    assert "oO processing your signals: allowed (the default)" in knows(page)
    assert {word for word in NAME.findall(page.locator("#settings").inner_text())} == {"oO"}
