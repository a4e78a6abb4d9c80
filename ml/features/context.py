"""Context assembly: a user's feature state, read at a moment, as the context generators and the policy see.

`features` are numbers the policy scores with; `facts` are the structured, tip-relevant details a
generator (rule or LLM) writes from. Neither holds raw history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ml.features.state import FeatureState, habit_strength
from oo_contracts.recommendation import UserContext

FREE_MINUTES_CAP = 240.0


def local_now(state: FeatureState, now: datetime) -> datetime:
    return now.astimezone(ZoneInfo(state.timezone))


def free_minutes(state: FeatureState, now: datetime) -> tuple[float, bool, float]:
    """(minutes until the next busy block, whether busy now, minutes of the block just ended)."""
    busy_now = any(start <= now < end for start, end in state.busy)
    if busy_now:
        return 0.0, True, 0.0
    upcoming = [start for start, end in state.busy if start > now]
    gap = min(((min(upcoming) - now).total_seconds() / 60), FREE_MINUTES_CAP) if upcoming else FREE_MINUTES_CAP
    just_ended = [(start, end) for start, end in state.busy if now - timedelta(minutes=20) <= end <= now]
    ended_block = max(((end - start).total_seconds() / 60 for start, end in just_ended), default=0.0)
    return gap, False, ended_block


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


def assemble_context(user_id: str, state: FeatureState, now: datetime) -> UserContext:
    local = local_now(state, now)
    # Moments as POSIX seconds, each computed once: comparing datetimes whose tzinfo objects differ
    # (a zone, pydantic's UTC, the stdlib's) asks both for their offset on every comparison.
    now_s = now.timestamp()
    today_end_s = local.replace(hour=23, minute=59, second=59).timestamp()
    open_tasks = list(state.tasks.values())
    due_s = {t.task_id: t.due.timestamp() for t in open_tasks if t.due is not None}
    overdue = [t for t in open_tasks if due_s.get(t.task_id, now_s) < now_s]
    due_today = [t for t in open_tasks if t.task_id in due_s and now_s <= due_s[t.task_id] <= today_end_s]
    gap, busy_now, ended_block = free_minutes(state, now)
    hour = local.hour
    shown, done = state.hour_shown[hour], state.hour_done[hour]
    minutes_since_tip = (now - state.last_tip_at).total_seconds() / 60 if state.last_tip_at else 24 * 60.0
    hours_since_checkin = (now - state.last_checkin_at).total_seconds() / 3600 if state.last_checkin_at else 99.0
    features = {
        "overdue_count": float(len(overdue)),
        "due_today_count": float(len(due_today)),
        "open_task_count": float(len(open_tasks)),
        "free_minutes": gap,
        "busy_now": 1.0 if busy_now else 0.0,
        "just_ended_block_minutes": ended_block,
        "energy": state.energy if state.energy is not None else 3.0,
        "mood": state.mood if state.mood is not None else 3.0,
        "energy_known": 1.0 if state.energy is not None else 0.0,
        "energy_trend": (state.energy - state.energy_ema) if state.energy is not None and state.energy_ema else 0.0,
        "mood_trend": (state.mood - state.mood_ema) if state.mood is not None and state.mood_ema else 0.0,
        "hours_since_checkin": min(hours_since_checkin, 99.0),
        "completion_rate_this_hour": (done + 1.0) / (shown + 2.0),
        "minutes_since_last_tip": min(minutes_since_tip, 24 * 60.0),
        "local_hour": float(hour),
        "weekend": 1.0 if local.weekday() >= 5 else 0.0,
        "dismiss_rate_todo": state.kind_dismiss.get("todo", 0.0),
        "dismiss_rate_advice": state.kind_dismiss.get("advice", 0.0),
        "dismiss_rate_checkin": state.kind_dismiss.get("checkin", 0.0),
        "quiet_minutes_left": minutes_of_quiet_left(state, local),
        "habit_count": float(len(state.habits)),
        "ever_checked_in": 0.0 if state.last_checkin_at is None else 1.0,
    }
    facts: dict[str, Any] = {
        "local_time": local.isoformat(),
        "timezone": state.timezone,
        "llm_processing": state.llm_processing,
        "dismissed_fingerprints": state.dismissed,
        "quiet_hours": None
        if state.quiet_hours is None
        else {"start_hour": state.quiet_hours[0], "end_hour": state.quiet_hours[1]},
        "weekday": local.strftime("%A"),
        "device_class": state.device_class,
        "tasks": [
            {
                "task_id": t.task_id,
                "title": t.title,
                "due": t.due.isoformat() if t.due else None,
                "due_in_hours": round((due_s[t.task_id] - now_s) / 3600, 1) if t.due else None,
                "estimated_minutes": t.estimated_minutes,
                "priority": t.priority,
            }
            for t in sorted(open_tasks, key=lambda t: (t.due is None, due_s.get(t.task_id, now_s), -t.priority))[:20]
        ],
        "habits": [
            {
                "habit_id": h.habit_id,
                "name": h.name,
                "cadence": h.cadence,
                "window_start_hour": h.window_start_hour,
                "window_end_hour": h.window_end_hour,
                "effort": h.effort,
                "strength": round(habit_strength(h, now), 2),
                "done_today": h.last_done_at is not None and local_now(state, h.last_done_at).date() == local.date(),
            }
            for h in state.habits.values()
        ],
        "hours_since_shown": {key: (now - at).total_seconds() / 3600 for key, at in state.last_shown.items()},
    }
    return UserContext(user_id=user_id, features=features, facts=facts)


def prompt_context(ctx: UserContext) -> dict[str, object]:
    """Only what a tip needs: the person's open tasks and habits (ids, titles, timing), the moment,
    the gap and the check-in — no history, no identifiers beyond the ids a tip may refer to."""
    f = ctx.facts
    return {
        "local_time": f.get("local_time"),
        "weekday": f.get("weekday"),
        "free_minutes": int(ctx.features["free_minutes"]),
        "busy_now": bool(ctx.features["busy_now"]),
        "energy": ctx.features["energy"] if ctx.features["energy_known"] else None,
        "mood": ctx.features["mood"] if ctx.features["energy_known"] else None,
        "tasks": [
            {k: t[k] for k in ("task_id", "title", "due_in_hours", "estimated_minutes", "priority")}
            for t in f.get("tasks", [])[:10]
        ],
        "habits": [
            {k: h[k] for k in ("habit_id", "name", "window_start_hour", "window_end_hour", "done_today")}
            for h in f.get("habits", [])
        ],
    }
