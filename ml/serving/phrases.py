"""The clauses a rule's why is made of, each a plain English statement of one recorded fact.

Every clause here has a twin check in `ml/experiments/truth.py`, written from the feature state
alone; a clause without one is not said.
"""

from __future__ import annotations

from datetime import tzinfo

from oo_contracts.recommendation import HabitFacts, TaskFacts

SAY_THE_HOUR_WITHIN = 12.0  # a timed due this close is named by its hour, "due at 00:00", even tomorrow


def minutes(n: int) -> str:
    return f"{n} minute{'s' * (n != 1)}"


def span(total_minutes: int) -> str:
    """75 → "1 hour 15 minutes"; 120 → "2 hours"; 45 → "45 minutes"."""
    hours, rest = divmod(total_minutes, 60)
    parts = [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    if rest or not hours:
        parts.append(minutes(rest))
    return " ".join(parts)


def due(task: TaskFacts, zone: tzinfo | None) -> str | None:
    """When the task is due, by the person's calendar days (a timed due today by its local hour)."""
    days = task.due_in_days
    if days is None:
        return None
    hours = task.due_in_hours or 0.0
    if task.due_at is not None and (days == 0 or 0 < hours <= SAY_THE_HOUR_WITHIN):
        at = task.due_at.astimezone(zone).strftime("%H:%M")
        return f"due at {at}" if hours > 0 else f"was due at {at}"
    if days == 0:
        return "due today"
    if days == 1:
        return "due tomorrow"
    if days == -1:
        return "due yesterday"
    if days > 1:
        return f"due in {days} days"
    return f"due {-days} days ago"


def gap(minutes_to_next: int) -> str:
    if minutes_to_next >= 120:
        return f"free for over {minutes_to_next // 60} hours"
    return f"fits your {minutes_to_next}-minute gap"


def about(n: int) -> str:
    return f"about {minutes(n)}"


def priority(p: int) -> str | None:
    return "marked top priority" if p == 4 else "marked high priority" if p == 3 else None


def energy(level: int | None) -> str | None:
    if level is None:
        return None
    return "you said your energy is high" if level >= 4 else "you said your energy is low" if level <= 2 else None


def mood(level: int | None) -> str | None:
    if level is None:
        return None
    return "you said your mood is good" if level >= 4 else "you said your mood is low" if level <= 2 else None


def window(habit: HabitFacts) -> str:
    return f"in your {habit.window_start_hour:02d}:00–{habit.window_end_hour % 24:02d}:00 window"


def habit_record(habit: HabitFacts, done_last_7: int) -> str:
    if habit.done_count == 0:
        return "new, not done yet"
    if done_last_7 > 0:
        return f"done {done_last_7} of the last 7 days"
    days = habit.days_since_done or 0
    return "last done yesterday" if days == 1 else f"last done {days} days ago"


def since_checkin(hours: float, ever: bool) -> str:
    if not ever:
        return "no check-in yet"
    whole = int(hours)
    return f"last check-in {whole} hour{'s' * (whole != 1)} ago"


def after_block(block_minutes: int) -> str:
    return f"after {span(block_minutes)} busy"
