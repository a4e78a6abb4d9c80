"""Permissions (what oO may do), from the settings sheet in a real browser: a switch per purpose, an answer recorded
with the version of the words shown, and a withdrawal that takes effect at once (ADR 0022)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from oo_contracts.consents import CONSENT_TEXTS, ConsentPurpose
from tests.litellm_proxy import Proxy
from tests.page_harness import DESKTOP, PHONE, Server, a_full_day, open_page, screenshot, until
from tests.postgres_cluster import free_port
from tests.test_processes import _env, running

SAID = "said => document.getElementById('settings-status').textContent === said"


def history(server: Server) -> list[tuple[str, bool, int, str]]:
    return [(r["purpose"], r["granted"], r["version"], r["how"]) for r in server.export()["consents"]["history"]]


def test_the_sheet_lists_every_purpose_with_its_words_and_a_switch(browser: Browser, server: Server) -> None:
    """Every purpose this server offers: its providers are the calendars (no Todoist app, no Google client)."""
    page = open_page(browser, server, PHONE)
    page.keyboard.press("s")
    switches = page.get_by_role("switch")
    until(page, "() => document.querySelectorAll('#consents [role=switch]').length === 6")
    on = {s.get_attribute("aria-label"): s.get_attribute("aria-checked") for s in switches.all()}
    assert on == {  # local mode: the person's own machine (ADR 0012)
        "Use my signals": "true",
        "Language model": "true",
        "Notifications": "false",
        "Email": "false",
        "CalDAV calendar": "false",
        "Calendar link": "false",
    }
    assert page.get_by_text(CONSENT_TEXTS[ConsentPurpose.llm][0]).is_visible()
    page.get_by_role("switch", name="Language model").scroll_into_view_if_needed()
    screenshot(page, "settings-consents-phone")


def test_turning_off_the_use_of_signals_pauses_the_face_until_it_is_on_again(browser: Browser, server: Server) -> None:
    a_full_day(server)
    page = open_page(browser, server, DESKTOP)
    page.keyboard.press("s")
    page.get_by_role("switch", name="Use my signals").click()
    until(page, SAID, "Use my signals: off.")
    until(page, "() => document.getElementById('text').textContent === 'Paused.'")  # behind the sheet, at once
    assert history(server) == [("core", False, 1, "page")]
    refused = server.api.post("/v1/recommend", json={})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "consent_required")
    page.get_by_role("button", name="Close").click()
    screenshot(page, "paused-desktop")

    page.reload()  # read back from the server, not from the page's memory
    until(page, "() => document.getElementById('text').textContent === 'Paused.'")
    page.keyboard.press("s")
    switch = page.get_by_role("switch", name="Use my signals")
    until(page, "() => document.querySelectorAll('#consents [role=switch]').length === 6")
    assert switch.get_attribute("aria-checked") == "false"
    switch.click()
    until(page, SAID, "Use my signals: on.")
    page.get_by_role("button", name="Close").click()
    until(page, "() => !['', 'Paused.'].includes(document.getElementById('text').textContent.trim())")
    assert history(server)[-1] == ("core", True, 1, "page")


def permission_names(page: Page) -> list[str | None]:
    return [s.get_attribute("aria-label") for s in page.locator("#consents [role=switch]").all()]


def test_permissions_ask_only_for_providers_this_server_offers_or_already_answered(
    browser: Browser, server: Server
) -> None:
    listed = server.api.get("/v1/me/integrations").json()["integrations"]
    assert [i["consent"] for i in listed] == ["integration:caldav", "integration:ics"]  # no Google client
    page = open_page(browser, server, PHONE)
    page.keyboard.press("s")
    until(page, "() => document.querySelectorAll('#consents [role=switch]').length === 6")
    names = permission_names(page)
    assert names == ["Use my signals", "Language model", "Notifications", "Email", "CalDAV calendar", "Calendar link"]
    assert page.locator("#consents").get_by_text("Google Calendar").count() == 0
    page.get_by_role("button", name="Close").click()

    # An answer on record (given elsewhere, through the API) is shown, so it can be withdrawn here.
    google = ConsentPurpose.integration_google_calendar
    version = len(CONSENT_TEXTS[google])
    server.signals(("profile.consent_set.v1", {"purpose": google.value, "granted": True, "version": version}))
    page.keyboard.press("s")
    until(page, "() => document.querySelectorAll('#consents [role=switch]').length === 7")
    assert "Google Calendar" in permission_names(page)
    assert "Todoist" not in permission_names(page)
    switch = page.get_by_role("switch", name="Google Calendar")
    assert switch.get_attribute("aria-checked") == "true"
    switch.click()
    until(page, SAID, "Google Calendar: off.")
    assert history(server)[-1] == (google.value, False, version, "page")
    state = {c["purpose"]: c for c in server.api.get("/v1/me/consents").json()["consents"]}[google.value]
    assert state["granted"] is False


# ---- the language model: a server whose LLM candidates come from the session's LiteLLM proxy ----------


@pytest.fixture(scope="module")
def oo_serve_with_llm(tmp_path_factory: pytest.TempPathFactory, litellm_proxy: Proxy) -> Iterator[str]:
    """`oo serve` in local mode with LLM candidates; every ask decides anew, so each shows its candidates."""
    port = free_port()
    env = _env(
        tmp_path_factory.mktemp("page-llm"),
        OO_LOG_LEVEL="WARNING",
        OO_TIP_HOLD_SECONDS="0",
        OO_HOLD_SILENCE="false",
        LITELLM_URL=litellm_proxy.url,
        LITELLM_API_KEY=litellm_proxy.key,
        OO_LLM_TIMEOUT_SECONDS="10",
    )
    url = f"http://127.0.0.1:{port}"
    with running(env, "serve", "--port", str(port), url=f"{url}/ready"):
        yield url


@pytest.fixture
def llm_server(oo_serve_with_llm: str) -> Iterator[Server]:
    with httpx.Client(base_url=oo_serve_with_llm, timeout=30) as api:
        assert api.delete("/v1/me").status_code == 202
        yield Server(oo_serve_with_llm, api)


def offered_sources(server: Server) -> set[str]:
    """The sources of the candidates a fresh decision weighed."""
    answer = server.api.post("/v1/recommend", json={})
    assert answer.status_code == 200, answer.text
    decisions: list[dict[str, Any]] = server.decisions()
    latest = next(d for d in decisions if d["decision_id"] == answer.json()["decision_id"])
    return {c["source"] for c in latest["candidates"]}


def test_turning_off_the_language_model_deletes_its_tips_at_once(browser: Browser, llm_server: Server) -> None:
    a_full_day(llm_server)
    deadline = time.monotonic() + 60  # the background refresh: a bound, polled
    while (llm_server.export()["recommender"]["llm_cache"] or {}).get("outcome") != "ok":
        assert time.monotonic() < deadline, "no LLM candidates were cached"
        time.sleep(0.1)
    assert "llm" in offered_sources(llm_server)

    page = open_page(browser, llm_server, DESKTOP)
    page.keyboard.press("s")
    page.get_by_role("switch", name="Language model").click()
    until(page, SAID, "Language model: off.")
    exported = llm_server.export()
    assert exported["recommender"]["llm_cache"] is None  # deleted with the answer that withdrew it
    assert [(r["purpose"], r["granted"], r["how"]) for r in exported["consents"]["history"]] == [("llm", False, "page")]
    assert "llm" not in offered_sources(llm_server)
    state = {c["purpose"]: c for c in llm_server.api.get("/v1/me/consents").json()["consents"]}["llm"]
    assert (state["granted"], state["version"], state["how"]) == (False, 1, "page")
