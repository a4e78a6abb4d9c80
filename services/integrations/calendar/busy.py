"""Busy blocks out of calendar data: only when, never what, who or where.

Events come as iCalendar text (a CalDAV object, an ICS feed). Recurrences are expanded by
`recurring-ical-events`; an event that does not make the person busy (cancelled, marked free, all-day)
is left out; what remains is merged into sorted, disjoint blocks. Nothing else of an event is read
past this module, so nothing else can be stored, logged or published.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
import recurring_ical_events

from oo_contracts.events import MAX_SYNCED_INTERVALS

Block = tuple[datetime, datetime]
WINDOW_BEFORE = timedelta(hours=1)  # a block that just ended still shapes the next tip ("after a long meeting")
WINDOW_AFTER = timedelta(days=7)
MAX_OCCURRENCES = 20_000  # a pathological feed (a rule every minute) stops here instead of filling memory


class NotACalendar(ValueError):
    """The data is not iCalendar."""


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def around(cls, now: datetime) -> Window:
        return cls(now - WINDOW_BEFORE, now + WINDOW_AFTER)


def busy_blocks(calendars: Iterable[bytes | str], window: Window) -> list[Block]:
    """The merged busy blocks of every calendar text, overlapping the window (not clipped to it)."""
    blocks: list[Block] = []
    for text in calendars:
        try:
            blocks.extend(_blocks_of(text, window))
        except NotACalendar:
            raise
        except Exception as error:  # a provider's data is untrusted: a rule or a value the libraries reject
            raise NotACalendar("the calendar holds data that cannot be read") from error
    return merge(blocks)


def _blocks_of(text: bytes | str, window: Window) -> list[Block]:
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as error:
        raise NotACalendar("the data is not iCalendar") from error
    blocks: list[Block] = []
    occurrences = recurring_ical_events.of(calendar, components=["VEVENT"]).between(window.start, window.end)
    for count, event in enumerate(occurrences):
        if count >= MAX_OCCURRENCES:
            break
        block = _block(event)
        if block is not None and block[1] > window.start and block[0] < window.end:
            blocks.append(block)
    return blocks


def _block(event: Any) -> Block | None:
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return None
    if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return None
    start = event.get("DTSTART")
    if start is None:
        return None
    begins = start.dt
    # All-day events mark a day (a birthday, a trip, a holiday), not an hour the person cannot take a tip
    # in; the calendars people use show them as free by default.
    if not isinstance(begins, datetime) and isinstance(begins, date):
        return None
    end = event.get("DTEND")
    if end is not None:
        ends = end.dt
    elif event.get("DURATION") is not None:
        ends = begins + event.get("DURATION").dt
    else:
        return None  # a moment, not a block (RFC 5545: no DTEND nor DURATION on a date-time event)
    if not isinstance(ends, datetime):
        return None
    begins, ends = _aware(begins), _aware(ends)
    return (begins, ends) if ends > begins else None


def _aware(moment: datetime) -> datetime:
    # A floating time has no zone of its own; oO reads it as UTC rather than guess the person's.
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)


def merge(blocks: Iterable[Block]) -> list[Block]:
    """Sorted, disjoint blocks: overlapping or touching ones become one."""
    merged: list[Block] = []
    for start, end in sorted(blocks):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def clipped(blocks: Iterable[Block], window: Window) -> list[Block]:
    """The blocks cut to the window, the nearest first, at most as many as an event carries."""
    inside = [(max(s, window.start), min(e, window.end)) for s, e in blocks if e > window.start and s < window.end]
    return inside[:MAX_SYNCED_INTERVALS]


def fingerprint(blocks: Iterable[Block]) -> str:
    """A hash of the blocks' times as read (before clipping, so a moving window alone changes nothing)."""
    text = ";".join(f"{s.astimezone(UTC).isoformat()}/{e.astimezone(UTC).isoformat()}" for s, e in blocks)
    return hashlib.sha256(text.encode()).hexdigest()
