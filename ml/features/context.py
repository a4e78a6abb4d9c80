"""Context assembly: a user's feature state, read at a moment, as the context generators and the policy see.

`features` are numbers the policy scores with; `facts` are the typed, tip-relevant details a
generator (rule or LLM) writes from. Neither holds raw history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ml.features.state import FeatureState, HabitFact, TaskFact, habit_strength
from oo_contracts.recommendation import (
    ContextFeatures,
    DayPart,
    HabitFacts,
    QuietHours,
    UserContext,
    UserFacts,
    title_slot,
)

FREE_MINUTES_CAP = 240.0
FRESH_CHECKIN_HOURS = 6.0  # an energy or mood older than this says nothing about now
TASKS_IN_FACTS = 30
FATIGUE_WINDOW = timedelta(hours=3)


def day_part(hour: int) -> DayPart:
    """The words a person uses for the hour they are in."""
    if hour < 5:
        return "night"
    if hour < 7:
        return "early morning"
    if hour < 11:
        return "morning"
    if hour < 14:
        return "midday"
    if hour < 17:
        return "afternoon"
    if hour < 21:
        return "evening"
    return "late evening"


def busy_now_and_next(state: FeatureState, now: datetime) -> tuple[bool, float | None, float]:
    """(busy now, minutes until the next busy block or None, minutes of a block that just ended)."""
    busy_now = any(start <= now < end for start, end in state.busy)
    upcoming = [start for start, _ in state.busy if start > now]
    to_next = (min(upcoming) - now).total_seconds() / 60 if upcoming and not busy_now else None
    just_ended = [(s, e) for s, e in state.busy if now - timedelta(minutes=20) <= e <= now]
    ended = max(((e - s).total_seconds() / 60 for s, e in just_ended), default=0.0)
    return busy_now, to_next, ended


def minutes_of_quiet_left(state: FeatureState, local: datetime) -> float:
    """Minutes until quiet hours end, 0 when not in them now."""
    if state.quiet_hours is None:
        return 0.0
    start, end = state.quiet_hours
    hour = local.hour
    inside = start <= hour < end if start < end else hour >= start or hour < end
    if not inside:
        return 0.0
    end_at = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if end_at <= local:
        end_at += timedelta(days=1)
    return (end_at - local).total_seconds() / 60


def _fresh(value: float | None, at: datetime | None, now: datetime) -> int | None:
    if value is None or at is None or (now - at).total_seconds() > FRESH_CHECKIN_HOURS * 3600:
        return None
    return int(value)


@dataclass(frozen=True, slots=True)
class _TaskTiming:
    task: TaskFact
    due_day: date | None
    due_in_hours: float | None
    due_in_days: int | None


def _task_timing(task: TaskFact, local: datetime, today: date, now_s: float) -> _TaskTiming:
    zone = local.tzinfo
    if task.due is not None:
        due_day: date | None = task.due.astimezone(zone).date()
        due_s: float | None = task.due.timestamp()
    elif task.due_date is not None:
        due_day = task.due_date
        due_s = datetime.combine(task.due_date + timedelta(days=1), time(), tzinfo=zone).timestamp()
    else:
        due_day, due_s = None, None
    return _TaskTiming(
        task=task,
        due_day=due_day,
        due_in_hours=None if due_s is None else round((due_s - now_s) / 3600, 2),
        due_in_days=None if due_day is None else (due_day - today).days,
    )


def _task_order(timing: _TaskTiming) -> tuple[bool, float, int]:
    return (timing.due_in_hours is None, timing.due_in_hours or 0.0, -timing.task.priority)


def _task_facts(timing: _TaskTiming) -> dict[str, object]:
    """A `TaskFacts` as its fields: `UserFacts` validates the list in one call, half the time of building
    each model in Python (and `model_construct`, pure Python, is slower than either)."""
    task = timing.task
    return {
        "task_id": task.task_id,
        "title": task.title if task.title is not None else title_slot(task.task_id),
        "due_at": task.due,
        "due_date": timing.due_day,
        "due_in_hours": timing.due_in_hours,
        "due_in_days": timing.due_in_days,
        "estimated_minutes": task.estimated_minutes,
        "priority": task.priority,
    }


def _habit_facts(habit: HabitFact, local: datetime, now: datetime) -> HabitFacts:
    strength = habit_strength(habit, now)
    last_day = habit.done_days[-1] if habit.done_days else None
    return HabitFacts(
        habit_id=habit.habit_id,
        name=habit.name,
        cadence=habit.cadence,
        window_start_hour=habit.window_start_hour,
        window_end_hour=habit.window_end_hour,
        effort=habit.effort,
        duration_minutes=habit.duration_minutes,
        done_count=habit.done_count,
        strength=None if strength is None else round(strength, 2),
        done_today=last_day == local.date(),
        done_in_last_7_days=sum(1 for d in habit.done_days if 1 <= (local.date() - d).days <= 7),
        days_since_done=None if last_day is None else (local.date() - last_day).days,
    )


def assemble_context(user_id: str, state: FeatureState, now: datetime) -> UserContext:
    local = now.astimezone(state.zone)
    now_s = now.timestamp()
    today = local.date()
    tasks = sorted((_task_timing(t, local, today, now_s) for t in state.tasks.values()), key=_task_order)
    busy_now, to_next, ended = busy_now_and_next(state, now)
    energy = _fresh(state.energy, state.energy_at, now)
    mood = _fresh(state.mood, state.mood_at, now)
    hour = local.hour
    shown, done = state.hour_shown[hour], state.hour_done[hour]
    minutes_since_tip = (now - state.last_tip_at).total_seconds() / 60 if state.last_tip_at else 24 * 60.0
    hours_since_checkin = (now - state.last_checkin_at).total_seconds() / 3600 if state.last_checkin_at else 99.0
    facts = UserFacts(
        local_time=local,
        timezone=state.timezone or "UTC",
        day_part=day_part(hour),
        weekday=local.strftime("%A"),
        weekend=local.weekday() >= 5,
        device_class=state.device_class,
        llm_processing=state.llm_processing,
        quiet_hours=None
        if state.quiet_hours is None
        else QuietHours(start_hour=state.quiet_hours[0], end_hour=state.quiet_hours[1]),
        calendar_known=state.calendar_known,
        busy_now=busy_now,
        minutes_to_next_busy=None if to_next is None else math.floor(to_next + 1e-9),
        ended_block_minutes=round(ended),
        energy=energy,
        mood=mood,
        ever_checked_in=state.last_checkin_at is not None,
        first_run_answered=state.first_run_answered,
        tasks=[_task_facts(t) for t in tasks[:TASKS_IN_FACTS]],
        habits=[_habit_facts(h, local, now) for h in state.habits.values()],
        dismissed_fingerprints=state.dismissed,
        hours_since_shown={key: (now - at).total_seconds() / 3600 for key, at in state.last_shown.items()},
        affinity=state.affinity,
    )
    features = ContextFeatures(
        local_hour=hour + local.minute / 60,
        weekend=1.0 if facts.weekend else 0.0,
        busy_now=1.0 if busy_now else 0.0,
        free_minutes=0.0 if busy_now else min(to_next if to_next is not None else FREE_MINUTES_CAP, FREE_MINUTES_CAP),
        energy=None if energy is None else float(energy),
        mood=None if mood is None else float(mood),
        open_task_count=float(len(tasks)),
        overdue_count=float(sum(1 for t in tasks if t.due_in_hours is not None and t.due_in_hours < 0)),
        due_today_count=float(sum(1 for t in tasks if t.due_in_days == 0)),
        habit_count=float(len(state.habits)),
        hours_since_checkin=min(hours_since_checkin, 99.0),
        minutes_since_last_tip=min(minutes_since_tip, 24 * 60.0),
        tips_last_3h=float(sum(1 for at in state.tip_times if now - at <= FATIGUE_WINDOW)),
        completion_rate_this_hour=(done + 1.0) / (shown + 2.0),
        dismiss_rate_todo=state.kind_dismiss.get("todo", 0.0),
        dismiss_rate_advice=state.kind_dismiss.get("advice", 0.0),
        dismiss_rate_checkin=state.kind_dismiss.get("checkin", 0.0),
        quiet_minutes_left=minutes_of_quiet_left(state, local),
    )
    return UserContext(user_id=user_id, features=features, facts=facts)


def prompt_context(ctx: UserContext) -> dict[str, object]:
    """Only what a tip needs: the person's open tasks and habits (ids, titles, timing), the moment,
    the gap and the check-in — no history, no identifiers beyond the ids a tip may refer to."""
    f = ctx.facts
    return {
        "local_time": f.local_time.strftime("%H:%M"),
        "day_part": f.day_part,
        "weekday": f.weekday,
        "minutes_to_next_busy_block": f.minutes_to_next_busy,
        "busy_now": f.busy_now,
        "energy": f.energy,
        "mood": f.mood,
        "tasks": [
            {
                "task_id": t.task_id,
                "title": t.title,
                "due_in_days": t.due_in_days,
                "estimated_minutes": t.estimated_minutes,
                "priority": t.priority,
            }
            for t in f.tasks[:10]
        ],
        "habits": [
            {
                "habit_id": h.habit_id,
                "name": h.name,
                "window_start_hour": h.window_start_hour,
                "window_end_hour": h.window_end_hour,
                "done_today": h.done_today,
            }
            for h in f.habits
        ],
    }
