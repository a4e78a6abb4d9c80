"""The sheet and the first-run steps in a real browser: the check-in scales, the habit step,
quiet hours, export and deletion, and a sheet that fits every screen."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser

from tests.events_factory import daytime_zone
from tests.page_harness import (
    DESKTOP,
    PHONE,
    SMALL_PHONE,
    Server,
    a_full_day,
    api_requests,
    open_page,
    reactions,
    screenshot,
    tip_text,
    until,
    wait_for_face,
    wait_for_new_tip,
)


def test_check_in_scale_then_the_tasks_and_habit_steps(browser: Browser, server: Server) -> None:
    page = open_page(browser, server)
    assert not page.get_by_role("button", name="Done").is_visible()  # the answer is the done
    page.get_by_role("button", name="energy 2 of 5").click()
    page.get_by_role("button", name="mood 4 of 5").click()
    wait_for_new_tip(page, "How are you right now?")
    checkins = [e["payload"] for e in server.export()["events"]["events"] if e["type"] == "profile.checkin_recorded.v1"]
    assert checkins == [{"energy": 2, "mood": 4}]
    assert reactions(server) == [("done", None)]

    assert tip_text(page) == "What's on your list? Connect your tasks, or add one."
    page.get_by_role("button", name="Not now").click()
    wait_for_new_tip(page, "What's on your list? Connect your tasks, or add one.")
    assert tip_text(page) == "Name one small habit you'd like to keep."
    page.get_by_role("button", name="Add a habit").click()
    assert page.get_by_role("dialog", name="Settings").is_visible()
    page.get_by_label("New habit").fill("stretch")
    page.get_by_role("button", name="Add habit").click()
    page.get_by_role("button", name="Close").click()
    wait_for_new_tip(page, "Name one small habit you'd like to keep.")
    assert [h["name"] for h in server.api.get("/v1/me/settings").json()["habits"]] == ["stretch"]
    assert "onboarding" not in page.evaluate("JSON.stringify(localStorage.getItem('oo.last'))")


def test_the_habit_step_is_labelled_habit_not_advice(browser: Browser, server: Server) -> None:
    server.signals(
        ("profile.checkin_recorded.v1", {"energy": 3, "mood": 3}),
        ("profile.first_run_answered.v1", {"step": "tasks", "answer": "not_now"}),
    )
    page = open_page(browser, server)
    assert tip_text(page) == "Name one small habit you'd like to keep."
    assert page.locator("#kind").inner_text() == "habit"


def test_added_habit_stays_said_after_the_sheet_reloads(browser: Browser, server: Server) -> None:
    page = open_page(browser, server)
    page.keyboard.press("s")
    page.get_by_label("New habit").fill("stretch")
    page.get_by_role("button", name="Add habit").click()
    until(page, "() => document.getElementById('habits').textContent.includes('stretch')")
    wait_for_face(page)  # the face asked again after the habit; the sheet's message outlives that too
    assert page.locator("#settings-status").inner_text() == "Added stretch."


def test_deletion_stays_said_and_a_reload_asks_before_starting_again(browser: Browser, server: Server) -> None:
    page = open_page(browser, server, DESKTOP, clock=True)
    page.keyboard.press("s")
    page.get_by_role("button", name="Delete my account").click()
    page.get_by_role("button", name="Yes, delete it all").click()
    until(page, "() => document.getElementById('text').textContent.startsWith('Deleted')")
    page.clock.run_for(3000)  # past any fade or late answer
    assert tip_text(page) == "Deleted. oO has forgotten you."

    sent = api_requests(page)
    page.reload()
    wait_for_face(page)
    assert tip_text(page) == "Deleted. oO has forgotten you."
    page.keyboard.press("s")  # the sheet would read the account, and so make a new one
    page.clock.run_for(3000)
    assert not page.get_by_role("dialog", name="Settings").is_visible()
    assert sent == []  # in local mode any request would have made a new person
    screenshot(page, "deleted-reloaded-desktop")

    page.get_by_role("button", name="Start again").click()
    assert wait_for_new_tip(page, "Deleted. oO has forgotten you.") == "How are you right now?"
    assert "POST v1/recommend" in sent


def test_the_check_in_scales_say_which_end_is_high(browser: Browser, server: Server) -> None:
    page = open_page(browser, server, SMALL_PHONE)
    for name in ("Energy", "Mood"):
        scale = page.get_by_role("group", name=name)
        low, high = scale.get_by_text("low", exact=True), scale.get_by_text("high", exact=True)
        one, five = scale.get_by_role("button", name="1 of 5, low"), scale.get_by_role("button", name="5 of 5, high")
        assert low.is_visible()
        assert high.is_visible()
        for label, button in ((low, one), (high, five)):  # each word sits under its end of the scale
            at, under = label.bounding_box(), button.bounding_box()
            assert at
            assert under
            assert at["y"] >= under["y"] + under["height"] - 1
            assert abs((at["x"] + at["width"] / 2) - (under["x"] + under["width"] / 2)) < under["width"] / 2
    screenshot(page, "check-in-small-phone")


def test_quiet_hours_save_only_a_whole_pair_and_every_time_is_hh_mm(browser: Browser, server: Server) -> None:
    a_full_day(server)  # a habit from 0 to 24 h, shown in the sheet
    page = open_page(browser, server, DESKTOP, locale="en-US")  # en-US would say "7:00 PM"
    page.keyboard.press("s")
    hour = datetime.now(ZoneInfo(daytime_zone())).hour  # the person's zone, as a_full_day set it
    save = page.get_by_role("button", name="Save quiet hours")
    page.get_by_label("Quiet hours start").select_option(str(hour))
    assert save.is_disabled()  # one end alone is not a choice yet
    page.get_by_label("Quiet hours end").select_option(str(hour))
    assert save.is_disabled()
    assert page.locator("#quiet-note").inner_text() == "Pick two different hours."
    page.get_by_label("Quiet hours end").select_option(str((hour + 2) % 24))
    save.click()
    said = f"Quiet from {hour:02d}:00 to {(hour + 2) % 24:02d}:00."
    until(page, "said => document.getElementById('settings-status').textContent === said", said)
    quiet = [e["payload"] for e in server.export()["events"]["events"] if e["type"] == "profile.quiet_hours_set.v1"]
    assert quiet == [{"start_hour": hour, "end_hour": (hour + 2) % 24}]  # one whole pair, sent once

    shown = page.evaluate("[...document.querySelectorAll('#settings option')].map(o => o.text)")
    hour_options = [text for text in shown if "/" not in text and text != "UTC"]  # not the zone names
    assert len(hour_options) == 4 * 24
    assert all(re.fullmatch(r"\d\d:\d\d", t) for t in hour_options)
    assert page.locator("#habits li span").first.inner_text() == "a short walk · 00:00–24:00"
    page.get_by_role("button", name="Close").click()
    until(page, "() => document.getElementById('kind').textContent === 'quiet hours'")
    assert re.fullmatch(r"Until \d\d:\d\d\.", tip_text(page))


SHEET_FITS = """() => {
  const sheet = document.getElementById('settings').getBoundingClientRect();
  const close = document.querySelector('#settings .close');
  const at = close.getBoundingClientRect();
  const inside = (r, box) => r.left >= box.left - 0.5 && r.right <= box.right + 0.5;
  const spill = [...document.querySelectorAll('#settings *')]
    .filter((e) => e.checkVisibility() && !inside(e.getBoundingClientRect(), sheet))
    .map((e) => e.id || e.textContent.trim().slice(0, 20));
  return {
    on_screen: sheet.top >= 0 && sheet.left >= 0 && sheet.bottom <= innerHeight && sheet.right <= innerWidth,
    close_on_top: document.elementFromPoint(at.left + at.width / 2, at.top + at.height / 2) === close,
    spill,
  };
}"""


def test_the_settings_sheet_fits_the_screen_and_close_stays_reachable(browser: Browser, server: Server) -> None:
    server.signals(
        *[
            (
                "profile.habit_defined.v1",
                {"habit_id": f"h{i}", "name": name, "window_start_hour": 7, "window_end_hour": 9},
            )
            for i, name in enumerate(["a short walk", "stretch", "read ten pages", "water the plants"])
        ]
    )
    for name, viewport in (("desktop", DESKTOP), ("small-phone", SMALL_PHONE), ("phone", PHONE)):
        page = open_page(browser, server, viewport)
        page.keyboard.press("s")
        page.get_by_role("button", name="Delete my account").click()  # the longest the sheet gets
        page.get_by_role("button", name="Keep it").scroll_into_view_if_needed()
        scrolled = page.evaluate(SHEET_FITS)
        screenshot(page, f"settings-scrolled-{name}")
        page.get_by_label("Time zone").scroll_into_view_if_needed()
        top = page.evaluate(SHEET_FITS)
        screenshot(page, f"settings-{name}")
        for fits in (scrolled, top):
            assert fits == {"on_screen": True, "close_on_top": True, "spill": []}, (name, fits)
        page.get_by_role("button", name="Close").click()
        assert not page.get_by_role("dialog", name="Settings").is_visible()
        page.context.close()


def test_settings_has_a_findable_labelled_crown_and_the_s_key(browser: Browser, server: Server) -> None:
    for name, viewport in (("small-phone", SMALL_PHONE), ("phone", PHONE), ("desktop", DESKTOP)):
        page = open_page(browser, server, viewport)
        crown = page.get_by_role("button", name="Settings")
        box = crown.bounding_box()
        tip = page.evaluate(  # the words' own box, not the heading's block
            "() => { const r = document.createRange(); r.selectNodeContents(document.getElementById('text'));"
            " const b = r.getBoundingClientRect(); return { x: b.x, width: b.width }; }"
        )
        assert box is not None
        assert box["width"] >= 44, box
        assert box["height"] >= 44, box
        assert box["x"] + box["width"] <= viewport["width"]
        assert box["y"] + box["height"] <= viewport["height"]
        assert crown.inner_text().strip().lower() == "settings"  # named where the eye sees it
        assert box["x"] >= tip["x"] + tip["width"], (box, tip)  # beside the tip, never over it
        screenshot(page, f"crown-{name}")
        crown.click()
        assert page.get_by_role("dialog", name="Settings").is_visible()
        page.keyboard.press("Escape")
        page.keyboard.press("s")
        assert page.get_by_role("dialog", name="Settings").is_visible()
        page.keyboard.press("Escape")
        page.context.close()


def test_a_check_in_with_one_scale_sends_what_was_given(browser: Browser, server: Server) -> None:
    page = open_page(browser, server)
    posted: list[Any] = []
    page.on("request", lambda r: posted.append(r.post_data_json) if r.url.endswith("/v1/events") else None)
    page.get_by_role("button", name="mood 2 of 5").click()
    save = page.get_by_role("button", name="Save")
    assert save.is_visible()
    screenshot(page, "check-in-one-scale-phone")
    save.click()
    wait_for_new_tip(page, "How are you right now?")
    assert [(e["type"], e["payload"]) for batch in posted for e in batch["events"]] == [
        ("profile.checkin_recorded.v2", {"mood": 2})
    ]
    assert reactions(server) == [("done", None)]
    checkins = [
        (e["type"], {k: v for k, v in e["payload"].items() if v is not None})
        for e in server.export()["events"]["events"]
        if "checkin" in e["type"]
    ]
    assert checkins == [("profile.checkin_recorded.v2", {"mood": 2})]  # the server keeps it


def test_settings_quiet_hours_export_and_delete(browser: Browser, server: Server) -> None:
    a_full_day(server)
    page = open_page(browser, server, DESKTOP)
    page.keyboard.press("s")
    dialog = page.get_by_role("dialog", name="Settings")
    assert dialog.is_visible()
    hour = datetime.now(UTC).hour
    page.get_by_label("Time zone").select_option("Asia/Tokyo")
    until(page, "() => document.getElementById('settings-status').textContent === 'Time zone: Asia/Tokyo.'")
    assert server.api.get("/v1/me/settings").json()["timezone"] == "Asia/Tokyo"
    page.get_by_label("Time zone").select_option("UTC")  # the quiet hours below are set in UTC
    page.get_by_label("Quiet hours start").select_option(str(hour))
    page.get_by_label("Quiet hours end").select_option(str((hour + 2) % 24))
    page.get_by_role("button", name="Save quiet hours").click()
    said = f"Quiet from {hour:02d}:00 to {(hour + 2) % 24:02d}:00."
    until(page, "said => document.getElementById('settings-status').textContent === said", said)
    assert server.api.get("/v1/me/settings").json()["quiet_hours"] == {
        "start_hour": hour,
        "end_hour": (hour + 2) % 24,
    }
    screenshot(page, "settings-desktop")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export my data").click()
    exported = download.value.path().read_text()
    assert '"recommender"' in exported

    page.get_by_role("button", name="Close").click()
    until(page, "() => document.getElementById('kind').textContent === 'quiet hours'")

    page.keyboard.press("s")
    page.get_by_role("button", name="Delete my account").click()
    page.get_by_role("button", name="Yes, delete it all").click()
    until(page, "() => document.getElementById('text').textContent.startsWith('Deleted')")
    screenshot(page, "deleted-desktop")
