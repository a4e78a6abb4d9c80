"""Todoist's due dates as the simulator understands them: the three shapes of `due.date`, a small subset
of the natural-language `due_string`, and the next occurrence of a simple recurring date.

Todoist's own parser understands far more (dozens of languages, "every other workday", "ev 3rd fri");
the subset here is what oO's tests and demos write: today, tomorrow, yesterday, in N days, a weekday,
next <weekday>, an ISO date, "no date", each optionally followed by "at HH[:MM][am|pm]", and the
recurring "every day|week|N days|N weeks|<weekday>", "daily", "weekly".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_AT = re.compile(r"^(?P<rest>.*?)\s+at\s+(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>am|pm)?$")
_EVERY = re.compile(r"^every\s+(?:(?P<n>\d+)\s+)?(?P<unit>day|days|week|weeks)$")
_IN = re.compile(r"^in\s+(?P<n>\d+)\s+(?P<unit>day|days|week|weeks)$")


class DueStringError(ValueError):
    """A due string outside the subset the simulator parses."""


@dataclass(frozen=True)
class Due:
    """A task's due date: `when` is a date (all day), a naive datetime (floating: the same wall-clock
    time in whatever zone the person is in) or an aware datetime (a fixed instant, with `timezone`)."""

    when: date | datetime
    string: str
    every_days: int | None = None  # the step of a recurring date; None for a one-off
    timezone: str | None = None

    @property
    def is_recurring(self) -> bool:
        return self.every_days is not None

    def local_day(self, zone: ZoneInfo) -> date:
        if isinstance(self.when, datetime):
            return self.when.astimezone(zone).date() if self.when.tzinfo else self.when.date()
        return self.when

    def instant(self, zone: ZoneInfo) -> datetime | None:
        """The moment it is due, for the overdue check; None for an all-day date."""
        if not isinstance(self.when, datetime):
            return None
        return self.when if self.when.tzinfo else self.when.replace(tzinfo=zone)

    def to_json(self) -> dict[str, object]:
        # The SDK's `Due.date` accepts exactly these three shapes: %F, %FT%T and %FT%TZ.
        if isinstance(self.when, datetime):
            if self.when.tzinfo:
                text = self.when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            else:
                text = self.when.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            text = self.when.isoformat()
        return {
            "date": text,
            "string": self.string,
            "lang": "en",
            "is_recurring": self.is_recurring,
            "timezone": self.timezone,
        }


def parse_due_string(text: str, today: date) -> Due | None:
    """The due date `text` names, relative to the person's `today`; None for "no date"."""
    phrase = " ".join(text.lower().split())
    if phrase in ("no date", "no due date", ""):
        return None
    at: time | None = None
    if match := _AT.match(phrase):
        hour = int(match["h"]) % 12 + (12 if match["ampm"] == "pm" else 0) if match["ampm"] else int(match["h"])
        minute = int(match["m"] or 0)
        if hour > 23 or minute > 59:
            raise DueStringError(text)
        at, phrase = time(hour, minute), match["rest"]
    day, every = _day_and_step(phrase, today, text)
    when: date | datetime = datetime.combine(day, at) if at else day
    return Due(when=when, string=text.strip(), every_days=every)


def _day_and_step(phrase: str, today: date, original: str) -> tuple[date, int | None]:
    if phrase in ("every day", "daily"):
        return today, 1
    if phrase in ("every week", "weekly"):
        return today, 7
    if match := _EVERY.match(phrase):
        n = int(match["n"] or 1)
        return today, n * (7 if match["unit"].startswith("week") else 1)
    if phrase.startswith("every ") and phrase[6:] in WEEKDAYS:
        return _weekday_on_or_after(today, WEEKDAYS.index(phrase[6:])), 7
    if phrase in ("today", "tod"):
        return today, None
    if phrase in ("tomorrow", "tom"):
        return today + timedelta(days=1), None
    if phrase == "yesterday":
        return today - timedelta(days=1), None
    if match := _IN.match(phrase):
        n = int(match["n"]) * (7 if match["unit"].startswith("week") else 1)
        return today + timedelta(days=n), None
    if phrase in WEEKDAYS:
        return _weekday_on_or_after(today, WEEKDAYS.index(phrase)), None
    if phrase.startswith("next ") and phrase[5:] in WEEKDAYS:
        return _weekday_on_or_after(today + timedelta(days=1), WEEKDAYS.index(phrase[5:])), None
    try:
        return date.fromisoformat(phrase), None
    except ValueError:
        raise DueStringError(original) from None


def _weekday_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def due_from_date(text: str) -> Due:
    return Due(when=date.fromisoformat(text), string=text)


def due_from_datetime(text: str, timezone: str) -> Due:
    """An RFC 3339 datetime: with an offset it is a fixed instant in the person's zone, without one it floats."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        return Due(when=when, string=when.strftime("%Y-%m-%d %H:%M"))
    return Due(when=when.astimezone(UTC), string=when.strftime("%Y-%m-%d %H:%M"), timezone=timezone)


def next_occurrence(due: Due, zone: ZoneInfo, today: date) -> Due:
    """Where a recurring date moves when the task is completed: its own step forward from the date it had
    (Todoist's "every", not "every!"), as many steps as it takes to land after `today`."""
    assert due.every_days is not None
    step = timedelta(days=due.every_days)
    when = due.when + step
    while replace(due, when=when).local_day(zone) <= today:
        when += step
    return replace(due, when=when)
