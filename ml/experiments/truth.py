"""An independent check that every clause of a why is true of the person's recorded facts.

Written from the feature state and the moment alone — not from the context the generators read, nor
their phrase code — so a generator's mistake cannot hide behind a shared helper. A rule's why must be
made wholly of clauses this module recognises and finds true; an LLM's why is free text, so every
claim found in it must be true (a number, a due day, a day part, a gap, an energy or mood, a habit's
record).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ml.features.state import FeatureState

FRESH = timedelta(hours=6)
DAY_PART_HOURS = {
    "night": range(0, 5),
    "early morning": range(5, 7),
    "morning": range(7, 11),
    "midday": range(11, 14),
    "afternoon": range(14, 17),
    "evening": range(17, 21),
    "late evening": range(21, 24),
}


@dataclass(frozen=True)
class Moment:
    state: FeatureState
    now: datetime
    ref_id: str | None

    @property
    def local(self) -> datetime:
        return self.now.astimezone(self.state.zone)

    def due_day(self) -> date | None:
        task = self.state.tasks.get(self.ref_id or "")
        if task is None:
            return None
        if task.due is not None:
            return task.due.astimezone(self.state.zone).date()
        return task.due_date

    def level(self, which: str) -> float | None:
        value, at = (
            (self.state.energy, self.state.energy_at) if which == "energy" else (self.state.mood, self.state.mood_at)
        )
        return value if value is not None and at is not None and self.now - at <= FRESH else None

    def gap_minutes(self) -> float | None:
        if any(s <= self.now < e for s, e in self.state.busy):
            return None
        ahead = [s for s, _ in self.state.busy if s > self.now]
        return (min(ahead) - self.now).total_seconds() / 60 if ahead else None


def _days_from_today(m: Moment) -> int | None:
    day = m.due_day()
    return None if day is None else (day - m.local.date()).days


def _due_at(m: Moment, hhmm: str, past: bool) -> bool:
    task = m.state.tasks.get(m.ref_id or "")
    if task is None or task.due is None:
        return False
    local_due = task.due.astimezone(m.state.zone)
    soon = timedelta(0) < task.due - m.now <= timedelta(hours=12)
    today_or_soon = local_due.date() == m.local.date() or soon
    return today_or_soon and local_due.strftime("%H:%M") == hhmm and (task.due <= m.now) == past


def _estimate(m: Moment, minutes: int) -> bool:
    task = m.state.tasks.get(m.ref_id or "")
    habit = m.state.habits.get(m.ref_id or "")
    return (task is not None and task.estimated_minutes == minutes) or (
        habit is not None and habit.duration_minutes == minutes
    )


def _habit_done_last_7(m: Moment) -> int:
    habit = m.state.habits.get(m.ref_id or "")
    today = m.local.date()
    return 0 if habit is None else sum(1 for d in habit.done_days if 1 <= (today - d).days <= 7)


def _habit_window(m: Moment, start: int, end: int) -> bool:
    habit = m.state.habits.get(m.ref_id or "")
    return (
        habit is not None
        and (habit.window_start_hour, habit.window_end_hour % 24) == (start, end)
        and habit.window_start_hour <= m.local.hour < habit.window_end_hour
    )


def _days_since_habit(m: Moment) -> int | None:
    habit = m.state.habits.get(m.ref_id or "")
    if habit is None or not habit.done_days:
        return None
    return (m.local.date() - habit.done_days[-1]).days


def _ended_block(m: Moment, minutes: int) -> bool:
    return any(
        m.now - timedelta(minutes=20) <= e <= m.now and round((e - s).total_seconds() / 60) == minutes
        for s, e in m.state.busy
    )


def _span_minutes(text: str) -> int | None:
    found = re.fullmatch(r"(?:(\d+) hours?)?\s?(?:(\d+) minutes?)?", text.strip())
    if not found or not any(found.groups()):
        return None
    return int(found.group(1) or 0) * 60 + int(found.group(2) or 0)


Check = Callable[[Moment, re.Match[str]], bool]


def _in_day_part(hours: range) -> Check:
    return lambda m, _: m.local.hour in hours


CLAUSES: list[tuple[re.Pattern[str], Check]] = [
    (re.compile(r"due today"), lambda m, _: _days_from_today(m) == 0 and _not_past_timed(m)),
    (re.compile(r"due tomorrow"), lambda m, _: _days_from_today(m) == 1),
    (re.compile(r"due yesterday"), lambda m, _: _days_from_today(m) == -1),
    (re.compile(r"due in (\d+) days"), lambda m, g: int(g[1]) >= 2 and _days_from_today(m) == int(g[1])),
    (re.compile(r"due (\d+) days ago"), lambda m, g: int(g[1]) >= 2 and _days_from_today(m) == -int(g[1])),
    (re.compile(r"due at (\d\d:\d\d)"), lambda m, g: _due_at(m, g[1], past=False)),
    (re.compile(r"was due at (\d\d:\d\d)"), lambda m, g: _due_at(m, g[1], past=True)),
    (re.compile(r"about (\d+) minutes?"), lambda m, g: _estimate(m, int(g[1]))),
    (
        re.compile(r"fits your (\d+)-minute gap"),
        lambda m, g: (gap := m.gap_minutes()) is not None and int(gap) == int(g[1]) and _fits(m, int(g[1])),
    ),
    (
        re.compile(r"free for over (\d+) hours"),
        lambda m, g: (gap := m.gap_minutes()) is not None and int(gap // 60) == int(g[1]) >= 2,
    ),
    (re.compile(r"you said your energy is high"), lambda m, _: (m.level("energy") or 0) >= 4),
    (re.compile(r"you said your energy is low"), lambda m, _: (m.level("energy") or 9) <= 2),
    (re.compile(r"you said your mood is good"), lambda m, _: (m.level("mood") or 0) >= 4),
    (re.compile(r"you said your mood is low"), lambda m, _: (m.level("mood") or 9) <= 2),
    (re.compile(r"marked top priority"), lambda m, _: _priority(m) == 4),
    (re.compile(r"marked high priority"), lambda m, _: _priority(m) == 3),
    (re.compile(r"in your (\d\d):00–(\d\d):00 window"), lambda m, g: _habit_window(m, int(g[1]), int(g[2]))),
    (re.compile(r"new, not done yet"), lambda m, _: _habit_count(m) == 0),
    (re.compile(r"done (\d) of the last 7 days"), lambda m, g: int(g[1]) > 0 and _habit_done_last_7(m) == int(g[1])),
    (re.compile(r"last done yesterday"), lambda m, _: _days_since_habit(m) == 1 and _habit_done_last_7(m) == 0),
    (
        re.compile(r"last done (\d+) days ago"),
        lambda m, g: _days_since_habit(m) == int(g[1]) and _habit_done_last_7(m) == 0,
    ),
    (re.compile(r"no check-in yet"), lambda m, _: m.state.last_checkin_at is None),
    (
        re.compile(r"last check-in (\d+) hours? ago"),
        lambda m, g: (
            m.state.last_checkin_at is not None
            and int((m.now - m.state.last_checkin_at).total_seconds() // 3600) == int(g[1])
        ),
    ),
    (re.compile(r"no habits yet"), lambda m, _: not m.state.habits),
    (re.compile(r"no tasks yet"), lambda m, _: not m.state.tasks),
    (re.compile(r"after (.+) busy"), lambda m, g: (n := _span_minutes(g[1])) is not None and _ended_block(m, n)),
    *((re.compile(re.escape(part)), _in_day_part(hours)) for part, hours in DAY_PART_HOURS.items()),
]


def _not_past_timed(m: Moment) -> bool:
    task = m.state.tasks.get(m.ref_id or "")
    return task is None or task.due is None or task.due > m.now


def _fits(m: Moment, gap: int) -> bool:
    task = m.state.tasks.get(m.ref_id or "")
    return task is not None and task.estimated_minutes is not None and task.estimated_minutes <= gap


def _priority(m: Moment) -> int | None:
    task = m.state.tasks.get(m.ref_id or "")
    return None if task is None else task.priority


def _habit_count(m: Moment) -> int | None:
    habit = m.state.habits.get(m.ref_id or "")
    return None if habit is None else habit.done_count


def untrue_clauses(why: str, state: FeatureState, now: datetime, ref_id: str | None) -> list[str]:
    """The clauses of a rule's why that are unknown or untrue of the state at `now` (empty: all true)."""
    moment = Moment(state, now, ref_id)
    wrong = []
    for clause in (c.strip() for c in why.split("·")):
        checks = [(pattern, check) for pattern, check in CLAUSES if pattern.fullmatch(clause)]
        if not checks or not all(check(moment, pattern.fullmatch(clause)) for pattern, check in checks):  # type: ignore[arg-type]
            wrong.append(clause)
    return wrong
