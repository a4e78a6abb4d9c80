"""The page's outbox in a real browser when the server will not take an item: the one it keeps failing
is set aside and shown, the ones after it still arrive, and the person can send it again; one the
server refuses for good is dropped with a note."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, Route

from tests.page_harness import (
    Server,
    a_full_day,
    let_go,
    open_page,
    reactions,
    screenshot,
    tip_text,
    until,
    wait_for_new_tip,
)

OUTBOX = "JSON.parse(localStorage.getItem('oo.outbox') || '[]')"
DROPPED = "JSON.parse(localStorage.getItem('oo.outbox.dropped') || '[]')"


def client_constants(page: Page) -> tuple[int, int]:
    """The outbox's MAX_ATTEMPTS and BACKOFF_CAP_MS, read from the client the page runs."""
    found = page.evaluate(
        "async () => { const m = await import('/sdk/oo-client.js'); return [m.MAX_ATTEMPTS, m.BACKOFF_CAP_MS]; }"
    )
    return int(found[0]), int(found[1])


def habits(server: Server) -> list[str]:
    return sorted(h["name"] for h in server.api.get("/v1/me/settings").json()["habits"])


def note(page: Page) -> str:
    return page.locator("#outbox-note").inner_text().replace("\n", " ").strip()


def test_an_update_the_server_keeps_failing_is_set_aside_and_the_reactions_after_it_arrive(
    browser: Browser, server: Server
) -> None:
    a_full_day(server)
    page = open_page(browser, server, clock=True)
    max_attempts, backoff_cap_ms = client_constants(page)
    # The server fails this one update, and only it, until it is told to accept it; the rest reach `oo serve`.
    failed: list[Any] = []
    accepting = False

    def fail_the_habit(route: Route) -> None:
        if accepting or "stretch" not in (route.request.post_data or ""):
            route.continue_()
            return
        failed.append(route.request.post_data_json)
        route.fulfill(status=500, json={"error": {"code": "internal", "message": "internal error"}})

    page.route("**/v1/events", fail_the_habit)
    page.keyboard.press("s")
    page.get_by_label("New habit").fill("stretch")
    page.get_by_role("button", name="Add habit").click()
    page.get_by_role("button", name="Close").click()
    page.get_by_role("button", name="Done").click()  # queued behind the failing update
    let_go(page)

    # Each failed try waits at most the backoff's cap before the next: move the page's clock past it.
    for attempt in range(1, max_attempts + 1):
        until(page, f"n => {OUTBOX}.find((i) => i.kind === 'events').attempts >= n", attempt)
        page.clock.run_for(backoff_cap_ms)
    until(page, f"() => {OUTBOX}.length === 1 && {OUTBOX}[0].set_aside")  # the reaction went past it
    wait_for_new_tip(page, "Nothing now.")  # the face, blank while the reaction waited, goes on
    assert reactions(server) == [("done", None)]
    assert len(failed) == max_attempts
    assert note(page) == "1 update not delivered Retry"
    assert [i["set_aside"] for i in page.evaluate(OUTBOX)] == [True]
    assert habits(server) == ["a short walk"]
    screenshot(page, "outbox-set-aside-phone")
    page.keyboard.press("s")  # the sheet, modal over the face, says it too
    assert page.locator("#settings .outbox-note").inner_text().replace("\n", " ") == "1 update not delivered Retry"
    screenshot(page, "outbox-set-aside-sheet-phone")
    page.get_by_role("button", name="Close").click()

    page.reload()  # kept, and still said, across a reload
    until(page, "() => document.getElementById('outbox-note').textContent.includes('not delivered')")
    accepting = True
    page.get_by_role("main").get_by_role("button", name="Retry").click()
    until(page, f"() => {OUTBOX}.length === 0")
    assert note(page) == ""
    assert habits(server) == ["a short walk", "stretch"]
    assert len(failed) == max_attempts


def test_a_reaction_the_server_refuses_is_dropped_with_a_note(browser: Browser, server: Server) -> None:
    a_full_day(server)
    page = open_page(browser, server, clock=True)
    shown = tip_text(page)
    server.api.delete("/v1/me").raise_for_status()  # reset elsewhere: the tip's decision is no one's now
    page.get_by_role("button", name="Done").click()
    let_go(page)
    until(page, "() => document.getElementById('outbox-note').textContent.includes('refused')")
    assert note(page) == "1 reaction refused by oO and dropped OK"
    assert page.evaluate(OUTBOX) == []
    assert [(d["status"], d["code"]) for d in page.evaluate(DROPPED)] == [(404, "decision_not_found")]
    wait_for_new_tip(page, shown)  # the face goes on, for the new person local mode made
    screenshot(page, "outbox-dropped-phone")
    page.get_by_role("main").get_by_role("button", name="OK").click()
    assert note(page) == ""
    assert page.evaluate(DROPPED) == []
