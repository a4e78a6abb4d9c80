"""The calendars in the sheet, in a real browser, through a real `oo serve` against real calendar servers:
a CalDAV account on Radicale, an ICS link on the test web server, and Google Calendar's sign-in through
the Google simulator, whose registered redirect URI is this server's own callback."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from services.integrations.calendar.service import GOOGLE_ERRORS
from tests.calendar_servers import GoogleSim, Radicale, StaticFiles, vevent
from tests.page_harness import DESKTOP, PHONE, SMALL_PHONE, Server, open_page, screenshot, until
from tests.postgres_cluster import free_port
from tests.test_page_integrations import SAID, settled
from tests.test_page_sheet import SHEET_FITS
from tests.test_processes import _env, running

CLIENT_ID, CLIENT_SECRET = "oo-page.apps.googleusercontent.com", "oo-page-secret"
HTTPS_ONLY = "it must start with https:// (http:// only on this machine)"
SOON = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=3)


@pytest.fixture(scope="module")
def calendar_oo(tmp_path_factory: pytest.TempPathFactory, google_sim: GoogleSim) -> Iterator[str]:
    """`oo serve` with a Google client, the simulator's; Google sends the browser back to this server's
    callback, as registered with the simulator."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    google_sim.register(CLIENT_ID, CLIENT_SECRET, f"{url}/v1/integrations/google_calendar/callback")
    env = _env(
        tmp_path_factory.mktemp("page-calendars"),
        OO_LOG_LEVEL="WARNING",
        OO_TIP_HOLD_SECONDS="3600",
        OO_GOOGLE_CLIENT_ID=CLIENT_ID,
        OO_GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
        OO_GOOGLE_AUTH_URL=f"{google_sim.url}/o/oauth2/v2/auth",
        OO_GOOGLE_TOKEN_URL=f"{google_sim.url}/token",
        OO_GOOGLE_REVOKE_URL=f"{google_sim.url}/revoke",
        OO_GOOGLE_API_URL=f"{google_sim.url}/",
    )
    with running(env, "serve", "--port", str(port), url=f"{url}/ready"):
        yield url


@pytest.fixture
def person(calendar_oo: str) -> Iterator[Server]:
    """A fresh person on the server with calendars."""
    with httpx.Client(base_url=calendar_oo, timeout=30) as api:
        assert api.delete("/v1/me").status_code == 202
        yield Server(calendar_oo, api)


def status_of(provider: str) -> str:
    return f"words => document.querySelector('#connections li[data-provider={provider}] .connection-status')?.textContent.startsWith(words)"  # noqa: E501


def problem_of(field: str) -> str:
    return f"() => document.getElementById('{field}-problem')?.textContent"


def listed(server: Server, provider: str) -> dict[str, Any]:
    found: dict[str, Any] = {i["provider"]: i for i in server.api.get("/v1/me/integrations").json()["integrations"]}
    return dict(found[provider])


def consents(server: Server) -> list[tuple[str, bool, str]]:
    return [(r["purpose"], r["granted"], r["how"]) for r in server.export()["consents"]["history"]]


def busy(server: Server) -> list[list[str]]:
    state = server.export()["recommender"]["feature_state"]
    return [] if state is None else list(state["busy"])


def disconnect(page: Page, name: str, provider: str) -> None:
    page.get_by_role("button", name=f"Disconnect {name}").click()
    assert (
        "oO forgets the busy times it read there" in page.locator(f"[data-provider={provider}] .confirm").inner_text()
    )
    page.get_by_role("button", name="Yes, disconnect").click()
    until(page, SAID, f"{name} disconnected; oO forgot what it read there.")
    until(page, status_of(provider), "Not connected")


def test_a_caldav_calendar_connects_from_the_sheet(browser: Browser, person: Server, radicale: Radicale) -> None:
    username, password = radicale.new_account()
    radicale.client(username, password).principal().make_calendar(name="Work").save_event(
        vevent(str(uuid.uuid4()), SOON, 60, summary="Dentist")
    )
    page = open_page(browser, person, SMALL_PHONE)
    page.keyboard.press("s")
    until(page, status_of("caldav"), "Not connected")
    page.get_by_label("Server address").fill(radicale.url)
    page.get_by_label("User name").fill(username)
    page.get_by_label("App password").fill("not-" + password)
    page.get_by_role("button", name="Connect CalDAV calendar").click()
    until(page, problem_of("caldav-password"), "The server refused this user name and password")
    assert page.get_by_label("App password").input_value() == ""  # sent once, not kept in the page
    assert page.get_by_label("App password").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "caldav-password"
    assert consents(person) == [("integration:caldav", True, "page")]  # granted with the words shown
    assert listed(person, "caldav")["status"] == "not_connected"
    fits = page.evaluate(SHEET_FITS)
    assert fits == {"on_screen": True, "close_on_top": True, "spill": []}, fits
    screenshot(page, "caldav-refused-320")

    page.get_by_label("App password").fill(password)
    page.get_by_label("App password").press("Enter")  # Enter connects, and the sheet stays open
    until(page, SAID, "CalDAV calendar connected — reading when you are busy.")
    assert consents(person) == [("integration:caldav", True, "page")]  # answered once
    until(page, status_of("caldav"), "Connected · read just now")
    assert page.get_by_role("dialog", name="Settings").is_visible()
    assert page.get_by_label("App password").count() == 0
    stored = page.evaluate("JSON.stringify({...localStorage}) + document.documentElement.outerHTML")
    assert password not in stored
    assert len(busy(person)) == 1  # when, never what

    page.get_by_role("button", name="Refresh CalDAV calendar now").click()
    until(page, SAID, "CalDAV calendar read just now.")
    disconnect(page, "CalDAV calendar", "caldav")
    assert listed(person, "caldav")["status"] == "not_connected"
    assert busy(person) == []
    assert page.get_by_role("button", name="Connect CalDAV calendar").is_visible()


def test_a_caldav_address_that_is_no_server_is_said_beside_the_address(
    browser: Browser, person: Server, ics_files: tuple[StaticFiles, str]
) -> None:
    _, not_caldav = ics_files
    page = open_page(browser, person, PHONE)
    page.keyboard.press("s")
    until(page, status_of("caldav"), "Not connected")
    page.get_by_role("button", name="Connect CalDAV calendar").click()  # nothing written: asked here first
    until(page, problem_of("caldav-url"), "This is not an address: it starts with https://")
    assert consents(person) == []
    for url, words in [
        (not_caldav + "/", "This address does not answer as a CalDAV server"),
        ("http://127.0.0.1:9/", "The server could not be reached — check the address"),
        ("http://calendar.example.org/", f"oO cannot use this address: {HTTPS_ONLY}"),
    ]:
        page.get_by_label("Server address").fill(url)
        page.get_by_label("User name").fill("someone")
        page.get_by_label("App password").fill("secret")
        page.get_by_role("button", name="Connect CalDAV calendar").click()
        until(page, problem_of("caldav-url"), words)
        assert page.evaluate(problem_of("caldav-password")) == ""
        assert page.get_by_label("Server address").get_attribute("aria-invalid") == "true"


def test_an_ics_link_connects_from_the_sheet(
    browser: Browser, person: Server, ics_files: tuple[StaticFiles, str]
) -> None:
    files, base = ics_files
    feed, page_path, gone = (f"/{secrets.token_hex(8)}.ics" for _ in range(3))
    files.bodies[feed] = (200, vevent("a", SOON, 60).encode())
    files.bodies[page_path] = (200, b"<html><body>Sign in</body></html>")
    files.bodies[gone] = (404, b"gone")
    page = open_page(browser, person, DESKTOP)
    page.keyboard.press("s")
    until(page, status_of("ics"), "Not connected")
    link = page.get_by_label("Subscription link")
    for path, words in [
        (gone, "This link no longer works — copy it again from your calendar"),
        (page_path, "This link does not lead to a calendar"),
    ]:
        link.fill(base + path)
        page.get_by_role("button", name="Connect Calendar link").click()
        until(page, problem_of("ics-url"), words)
    assert consents(person) == [("integration:ics", True, "page")]
    screenshot(page, "ics-refused-desktop")

    link.fill(base + feed)
    link.press("Enter")
    until(page, SAID, "Calendar link connected — reading when you are busy.")
    until(page, status_of("ics"), "Connected · read just now")
    assert len(busy(person)) == 1
    fits = page.evaluate(SHEET_FITS)
    assert fits == {"on_screen": True, "close_on_top": True, "spill": []}, fits

    files.bodies[feed] = (500, b"down")  # a failing read keeps what was read, and says why
    page.get_by_role("button", name="Refresh Calendar link now").click()
    until(page, status_of("ics"), "Calendar link did not answer; showing what was read at")
    disconnect(page, "Calendar link", "ics")
    assert busy(person) == []


def test_google_calendar_connects_through_its_sign_in(browser: Browser, person: Server, google_sim: GoogleSim) -> None:
    user = f"p{secrets.token_hex(6)}@example.com"
    google_sim.seed_busy(user, [(SOON, SOON + timedelta(hours=1))])
    google_sim.next_consent(user, decision="deny")
    page = open_page(browser, person, PHONE)
    went: list[str] = []
    page.on("request", lambda r: went.append(r.url) if r.is_navigation_request() else None)
    page.keyboard.press("s")
    until(page, status_of("google_calendar"), "Not connected")
    page.get_by_role("button", name="Connect Google Calendar").click()
    settled(page, SAID, "You did not allow oO in Google Calendar — nothing changed")
    assert page.evaluate("location.pathname + location.search") == "/"
    assert consents(person) == [("integration:google_calendar", True, "page")]

    google_sim.next_consent(user)
    settled(page, status_of("google_calendar"), "Not connected")
    page.get_by_role("button", name="Connect Google Calendar").click()
    settled(page, SAID, "Google Calendar connected — reading when you are busy")
    settled(page, status_of("google_calendar"), "Connected · read")
    assert any(url.startswith(google_sim.url + "/o/oauth2/v2/auth") for url in went)
    assert any("/v1/integrations/google_calendar/callback" in url for url in went)
    assert len(busy(person)) == 1
    screenshot(page, "google-connected-phone")

    page.get_by_role("button", name="Refresh Google Calendar now").click()
    until(page, SAID, "Google Calendar read just now.")
    disconnect(page, "Google Calendar", "google_calendar")
    assert listed(person, "google_calendar")["status"] == "not_connected"


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
    for provider, name in [("caldav", "CalDAV calendar"), ("ics", "Calendar link"), ("todoist", "Todoist")]:
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
