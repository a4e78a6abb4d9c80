"""How calendar signals fold into a person's feature state: a sync replaces one calendar's blocks within
its window, a forgotten provider takes its blocks away, posted blocks keep working, old states load."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from ml.features.state import POSTED_BUSY, FeatureState
from oo_contracts.events import BusySynced, envelope
from services.integrations.calendar.busy import NotACalendar, Window, busy_blocks
from tests.calendar_servers import vevent

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def event(event_type: str, payload: dict[str, Any], occurred_at: datetime = NOW):
    return envelope(
        event_id=uuid.uuid4(),
        event_type=event_type,
        user_id="usr_1",
        occurred_at=occurred_at,
        source="integrations",
        payload=payload,
    )


def synced(calendar: str, blocks: list[tuple[float, float]], window: tuple[float, float] = (-1, 168)):
    return event(
        "integrations.busy_synced.v1",
        {
            "calendar": calendar,
            "window_start": at(window[0]).isoformat(),
            "window_end": at(window[1]).isoformat(),
            "intervals": [{"start": at(s).isoformat(), "end": at(e).isoformat()} for s, e in blocks],
        },
    )


def posted(start: float, end: float):
    return event("integrations.busy_interval_recorded.v1", {"start": at(start).isoformat(), "end": at(end).isoformat()})


def forgotten(provider: str):
    return event("integrations.provider_forgotten.v1", {"provider": provider})


def test_a_sync_replaces_its_calendars_blocks_so_a_moved_or_deleted_event_disappears():
    state = FeatureState()
    state.apply(synced("caldav", [(1, 2), (5, 6)]))
    assert state.busy == [(at(1), at(2)), (at(5), at(6))]
    assert state.calendar_known is True

    state.apply(synced("caldav", [(3, 4)]))  # the first moved, the second deleted

    assert state.busy == [(at(3), at(4))]


def test_a_sync_leaves_other_calendars_and_posted_blocks_as_they_were():
    state = FeatureState()
    state.apply(posted(10, 11))
    state.apply(synced("ics", [(20, 21)]))
    state.apply(synced("caldav", [(1, 2)]))
    state.apply(synced("caldav", []))

    assert state.busy == [(at(10), at(11)), (at(20), at(21))]
    assert state.busy_sources["caldav"] == []
    assert state.calendar_known is True


def test_blocks_of_a_calendar_outside_the_new_window_stay():
    state = FeatureState()
    state.apply(synced("caldav", [(1, 2), (100, 101)]))
    state.apply(synced("caldav", [(3, 4)], window=(-1, 48)))

    assert state.busy == [(at(3), at(4)), (at(100), at(101))]


def test_forgetting_a_provider_drops_its_blocks_and_the_calendar_stays_known_only_through_another():
    state = FeatureState()
    state.apply(synced("caldav", [(1, 2)]))
    state.apply(synced("google_calendar", [(3, 4)]))

    state.apply(forgotten("caldav"))
    assert state.busy == [(at(3), at(4))]
    assert state.calendar_known is True

    state.apply(forgotten("google_calendar"))
    assert state.busy == []
    assert state.calendar_known is False


def test_forgetting_a_provider_that_gave_nothing_changes_nothing():
    state = FeatureState()
    state.apply(posted(1, 2))
    state.apply(forgotten("todoist"))

    assert state.busy == [(at(1), at(2))]
    assert state.calendar_known is True


def test_posted_blocks_accumulate_as_before():
    state = FeatureState()
    state.apply(posted(1, 2))
    state.apply(posted(3, 4))

    assert state.busy == [(at(1), at(2)), (at(3), at(4))]
    assert state.busy_sources == {POSTED_BUSY: [(at(1), at(2)), (at(3), at(4))]}


def test_a_state_stored_before_sources_loads_with_its_blocks_as_posted():
    stored = {"version": 2, "busy": [[at(1).isoformat(), at(2).isoformat()]], "calendar_known": True}

    state = FeatureState.model_validate(stored)
    state.apply(synced("caldav", [(5, 6)]))

    assert state.busy == [(at(1), at(2)), (at(5), at(6))]
    state.apply(forgotten("caldav"))
    assert state.busy == [(at(1), at(2))]
    assert state.calendar_known is True


def test_a_sync_event_refuses_blocks_outside_its_window_and_carries_no_text():
    with pytest.raises(ValidationError, match="within the window"):
        BusySynced.model_validate(
            {
                "calendar": "caldav",
                "window_start": at(0).isoformat(),
                "window_end": at(10).isoformat(),
                "intervals": [{"start": at(9).isoformat(), "end": at(11).isoformat()}],
            }
        )
    with pytest.raises(ValidationError, match="Extra inputs"):
        BusySynced.model_validate(
            {
                "calendar": "caldav",
                "window_start": at(0).isoformat(),
                "window_end": at(10).isoformat(),
                "intervals": [{"start": at(1).isoformat(), "end": at(2).isoformat(), "summary": "x"}],
            }
        )


def test_calendar_data_the_libraries_reject_is_not_a_calendar_never_an_error_of_its_own():
    window = Window.around(NOW)
    broken: list[str | bytes] = [
        vevent("rule", at(2), rrule="FREQ=SOMETIMES"),
        vevent("end", at(2)).replace("DTEND:", "DTEND:not-a-date\r\nX-OLD-DTEND:"),
        b"\xff\xfe garbage",
    ]
    for text in broken:
        with pytest.raises(NotACalendar):
            busy_blocks([text], window)
    assert busy_blocks(["BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"], window) == []
