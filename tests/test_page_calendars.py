"""The calendars in the sheet, in a real browser, through a real `oo serve` against real calendar servers:
a CalDAV account on Radicale, an ICS link on the test web server, and Google Calendar's sign-in through
the Google simulator, whose registered redirect URI is this server's own callback."""

from __future__ import annotations

from playwright.sync_api import Browser

from services.integrations.calendar.service import GOOGLE_ERRORS
from tests.page_harness import PHONE, Server, open_page, until
from tests.test_page_integrations import SAID, settled

# The page's own words for each of Google's results: none is taken from the address.
GOOGLE_WORDS = {
    "connected": "Google Calendar connected — reading when you are busy",
    "access_denied": "You did not allow oO in Google Calendar — nothing changed",
    "state_unknown": "That link expired — try connecting again",
    "state_expired": "The sign-in took too long — try connecting again",
    "wrong_person": "That sign-in was started by another account — try connecting again",
    "bad_code": "That link expired — try connecting again",
    "google_misconfigured": "This server's Google app is misconfigured — ask whoever runs it",
    "google_refused": "Google refused the sign-in — try connecting again",
    "google_unavailable": "Google could not be reached — try again in a moment",
    "scope_not_granted": "You did not tick the box that lets oO see when you are busy — try connecting again",
    "consent_required": "oO may not read Google Calendar: it is off in Permissions — try connecting again",
    "unauthorized": "Google Calendar refused oO's grant — try connecting again",
    "forbidden": "Google Calendar does not let oO read this calendar",
    "rate_limited": "Google Calendar asked oO to slow down — try again in a few minutes",
    "unreachable": "Google Calendar could not be reached — try again in a moment",
    "bad_answer": "Google Calendar answered in a way oO did not understand — try again later",
}


def test_every_return_from_a_calendar_is_said_in_the_pages_own_words(browser: Browser, server: Server) -> None:
    assert set(GOOGLE_WORDS) == {"connected", *GOOGLE_ERRORS}  # a new result of Google's needs its words
    page = open_page(browser, server, PHONE)
    said = {}
    for result in GOOGLE_WORDS:
        page.goto(f"{server.url}/?integration=google_calendar&result={result}")
        said[result] = settled(page, "() => document.getElementById('settings-status').textContent")
        assert page.evaluate("location.pathname + location.search") == "/"
    assert said == GOOGLE_WORDS
    for provider, name in [("caldav", "CalDAV calendar"), ("ics", "Calendar feed"), ("todoist", "Todoist")]:
        page.goto(f"{server.url}/?integration={provider}&result=connected")
        verb = "reading your tasks" if provider == "todoist" else "reading when you are busy"
        settled(page, SAID, f"{name} connected — {verb}")

    # Anyone can write a link: words from it are never shown, and a provider the page does not know says nothing.
    page.goto(f"{server.url}/?integration=google_calendar&result=Your+account+is+locked")
    settled(page, SAID, "Google Calendar could not be connected — try again")
    page.goto(f"{server.url}/?integration=Call+this+number&result=connected")
    until(page, "() => location.search === ''")
    page.wait_for_timeout(300)
    assert not page.get_by_role("dialog", name="Settings").is_visible()
    assert "Call this number" not in page.content()
