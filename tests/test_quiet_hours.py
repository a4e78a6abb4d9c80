"""Quiet hours: a person's rule that nothing is shown in some local hours (wrapping midnight too)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oo_contracts.recommendation import QuietHours
from tests.ml_factory import context_of, event, state_with


def quiet(start: int, end: int, timezone: str = "Europe/Berlin"):
    return state_with(
        event("recommender.context_observed.v1", {"timezone": timezone, "device_class": "phone"}),
        event("profile.quiet_hours_set.v1", {"start_hour": start, "end_hour": end}),
    )


@pytest.mark.parametrize(
    ("utc_hour", "minutes_left"),
    [(20, 0), (21, 9 * 60), (4, 2 * 60), (5, 60), (6, 0), (12, 0)],
)
def test_quiet_hours_wrap_midnight_in_local_time(utc_hour: int, minutes_left: float) -> None:
    # 22:00–07:00 in Berlin (UTC+1 in November) is 21:00–06:00 UTC.
    at = datetime(2026, 11, 25, utc_hour, 0, tzinfo=UTC)
    assert context_of(quiet(22, 7), at).features.quiet_minutes_left == minutes_left


def test_equal_hours_turn_quiet_hours_off_and_settings_show_them() -> None:
    state = quiet(13, 15, "UTC")
    at = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    assert context_of(state, at).features.quiet_minutes_left == 30
    assert context_of(state, at).facts.quiet_hours == QuietHours(start_hour=13, end_hour=15)
    state.apply(event("profile.quiet_hours_set.v1", {"start_hour": 9, "end_hour": 9}))
    assert context_of(state, at).features.quiet_minutes_left == 0
    assert context_of(state, at).facts.quiet_hours is None
