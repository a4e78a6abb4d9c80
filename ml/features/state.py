"""Per-user feature state, updated one event at a time (never by rescanning history).

The same `apply` runs online (in the transaction that stores the event) and offline (replaying a
log), so features are computed identically in both.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, model_validator

from oo_contracts.events import EventEnvelope, Reaction
from oo_contracts.recommendation import REWARDS

RECENT_DISMISSED = 20
HABIT_GAIN = 0.3  # a done habit closes 30% of the gap to full strength
HABIT_DECAY_PER_MISSED_PERIOD = 0.85  # forgiving: a missed day costs 15%, never resets to zero
HABIT_DAYS_KEPT = 28
MOOD_EMA = 0.3
REACTION_EMA = 0.25
RECENT_IDS = 256
DONE_TASKS_KEPT = 200
TIP_TIMES_KEPT = 24
AFFINITIES_KEPT = 200
DEFAULT_TIMEZONE = "UTC"
POSTED_BUSY = "posted"  # the source of intervals posted one by one (`busy_interval_recorded`), not a provider's name
POSTED_BUSY_KEPT = 50
CHECKINS_KEPT = 5  # the latest check-ins, each deletable on its own ("what oO knows about me")
CHECKIN_TYPES = frozenset({"profile.checkin_recorded.v1", "profile.checkin_recorded.v2"})
SYNCED_BUSY_KEPT = 200  # per calendar: a week of a dense calendar, the nearest first
BUSY_PAST_KEPT = timedelta(hours=1)  # a block that ended longer ago no longer matters


class TaskFact(BaseModel):
    task_id: str
    title: str | None = None  # None for a provider's task: its text is never kept (ADR 0023)
    provider: str | None = None  # None for a task the person gave oO itself
    recurring: bool = False
    due: datetime | None = None  # due at a moment
    due_date: date | None = None  # due on a day (all-day), in the person's zone
    estimated_minutes: int | None = None
    priority: int = 1
    added_at: datetime


class CheckinFact(BaseModel):
    checkin_id: str  # the id of its event
    at: datetime
    energy: int | None = None
    mood: int | None = None


class HabitFact(BaseModel):
    habit_id: str
    name: str
    cadence: str = "daily"
    window_start_hour: int
    window_end_hour: int
    effort: int = 2
    duration_minutes: int | None = None
    strength: float = 0.0
    last_done_at: datetime | None = None
    done_count: int = 0
    done_days: list[date] = Field(default_factory=list)  # local days it was done on, newest last


class FeatureState(BaseModel):
    version: int = 2
    tasks: dict[str, TaskFact] = Field(default_factory=dict)
    done_tasks: list[str] = Field(default_factory=list)
    habits: dict[str, HabitFact] = Field(default_factory=dict)
    busy: list[tuple[datetime, datetime]] = Field(default_factory=list)  # every source's blocks, sorted
    # Each source's blocks (a calendar provider's name, or POSTED_BUSY): a sync replaces one calendar's
    # blocks within its window, and a provider forgotten takes its own away (ADR 0024).
    busy_sources: dict[str, list[tuple[datetime, datetime]]] = Field(default_factory=dict)
    calendar_known: bool = False
    energy: float | None = None
    mood: float | None = None
    energy_at: datetime | None = None
    mood_at: datetime | None = None
    energy_ema: float | None = None
    mood_ema: float | None = None
    last_checkin_at: datetime | None = None
    checkins: list[CheckinFact] = Field(default_factory=list)  # the latest, oldest first
    hour_done: list[float] = Field(default_factory=lambda: [0.0] * 24)
    hour_shown: list[float] = Field(default_factory=lambda: [0.0] * 24)
    kind_dismiss: dict[str, float] = Field(default_factory=dict)
    kind_done: dict[str, float] = Field(default_factory=dict)
    last_tip_at: datetime | None = None
    tip_times: list[datetime] = Field(default_factory=list)  # the last tips shown, newest last
    last_shown: dict[str, datetime] = Field(default_factory=dict)
    affinity: dict[str, float] = Field(default_factory=dict)  # candidate id → its reactions' average reward
    # "source|kind|local hour" → [done, later, not for me] since `learning_since`: what learned sentences rest on.
    reactions: dict[str, list[int]] = Field(default_factory=dict)
    learning_since: datetime | None = None  # when the person last asked oO to forget what it learned
    timezone: str | None = None  # None: never set; the context then reasons in UTC
    device_class: str = "phone"
    quiet_hours: tuple[int, int] | None = None  # local [start, end) hours; may wrap midnight
    dismissed: list[list[str]] = Field(default_factory=list)  # fingerprints of the last dismissed tips
    llm_processing: bool | None = None  # the person's choice; None: the deployment's default (ADR 0012)
    core_processing: bool | None = None  # consent to processing at all; None: the deployment's default (ADR 0022)
    first_run_answered: list[str] = Field(default_factory=list)  # first-run steps answered, whatever the answer
    recent_event_ids: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _busy_by_source(self) -> FeatureState:
        # A state stored before busy blocks were kept per source: what it knew was posted.
        if (self.busy or self.calendar_known) and not self.busy_sources:
            self.busy_sources = {POSTED_BUSY: list(self.busy)}
        # A state stored before check-ins were kept one by one: its latest is the one it knows.
        if self.last_checkin_at is not None and not self.checkins:
            energy = self.energy if self.energy_at == self.last_checkin_at else None
            mood = self.mood if self.mood_at == self.last_checkin_at else None
            self.checkins = [
                CheckinFact(
                    checkin_id=f"at-{int(self.last_checkin_at.timestamp())}",
                    at=self.last_checkin_at,
                    energy=None if energy is None else int(energy),
                    mood=None if mood is None else int(mood),
                )
            ]
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or DEFAULT_TIMEZONE)

    def apply(self, event: EventEnvelope) -> bool:
        """Fold one event in; False if it was already applied (at-least-once delivery)."""
        event_id = str(event.id)
        if event_id in self.recent_event_ids:
            return False
        self.recent_event_ids = [*self.recent_event_ids[-(RECENT_IDS - 1) :], event_id]
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event.payload, event.occurred_at)
        if event.type in CHECKIN_TYPES:
            _keep_checkin(self, event_id, event.payload, event.occurred_at)
        return True


def _ema(previous: float | None, value: float, weight: float) -> float:
    return value if previous is None else previous + weight * (value - previous)


def _checkin(state: FeatureState, payload: dict[str, Any], at: datetime) -> None:
    if payload.get("energy") is not None:
        state.energy, state.energy_at = float(payload["energy"]), at
        state.energy_ema = _ema(state.energy_ema, state.energy, MOOD_EMA)
    if payload.get("mood") is not None:
        state.mood, state.mood_at = float(payload["mood"]), at
        state.mood_ema = _ema(state.mood_ema, state.mood, MOOD_EMA)
    state.last_checkin_at = at


def _keep_checkin(state: FeatureState, checkin_id: str, payload: dict[str, Any], at: datetime) -> None:
    fact = CheckinFact(checkin_id=checkin_id, at=at, energy=payload.get("energy"), mood=payload.get("mood"))
    state.checkins = sorted([*state.checkins, fact], key=lambda c: c.at)[-CHECKINS_KEPT:]


def _checkin_removed(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    """One check-in forgotten: the levels and their averages are read again from the ones kept, as if
    it had never been given."""
    kept = [c for c in state.checkins if c.checkin_id != payload["checkin_id"]]
    if len(kept) == len(state.checkins):
        return
    state.checkins = kept
    state.energy = state.mood = state.energy_at = state.mood_at = None
    state.energy_ema = state.mood_ema = state.last_checkin_at = None
    for checkin in kept:
        _checkin(state, {"energy": checkin.energy, "mood": checkin.mood}, checkin.at)


def _learning_forgotten(state: FeatureState, _payload: dict[str, Any], at: datetime) -> None:
    """What was learned from reactions goes; what the person set and did (tasks, habits, check-ins) stays."""
    state.hour_done = [0.0] * 24
    state.hour_shown = [0.0] * 24
    state.kind_dismiss, state.kind_done, state.affinity = {}, {}, {}
    state.dismissed, state.reactions = [], {}
    state.learning_since = at


def _task_deleted(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    task = state.tasks.get(payload["task_id"])
    if task is not None and task.provider is None:  # a provider's task goes with its provider
        del state.tasks[payload["task_id"]]


def _context(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    state.timezone = payload["timezone"]
    state.device_class = payload["device_class"]


def _timezone(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    state.timezone = payload["timezone"]


def _habit_defined(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    previous = state.habits.get(payload["habit_id"])
    kept = previous.model_dump(include={"strength", "last_done_at", "done_count", "done_days"}) if previous else {}
    state.habits[payload["habit_id"]] = HabitFact(**payload, **kept)


def habit_strength(habit: HabitFact, now: datetime) -> float | None:
    """Strength decayed by the periods missed since it was last done (forgiving, no streaks); None
    for a habit never done — there is nothing to say of it yet."""
    if habit.last_done_at is None:
        return None
    period_days = 7 if habit.cadence == "weekly" else 1
    missed = max(0, int((now - habit.last_done_at).total_seconds() // (86400 * period_days)) - 1)
    return float(habit.strength * HABIT_DECAY_PER_MISSED_PERIOD**missed)


def _habit_done(state: FeatureState, payload: dict[str, Any], at: datetime) -> None:
    habit = state.habits.get(payload["habit_id"])
    if habit is None:
        return
    current = habit_strength(habit, at) or 0.0
    habit.strength = current + HABIT_GAIN * (1 - current)
    habit.last_done_at = at if habit.last_done_at is None else max(habit.last_done_at, at)
    habit.done_count += 1
    day = at.astimezone(state.zone).date()
    if day not in habit.done_days:
        habit.done_days = sorted([*habit.done_days, day])[-HABIT_DAYS_KEPT:]


def _habit_removed(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    state.habits.pop(payload["habit_id"], None)


def _quiet_hours(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    start, end = int(payload["start_hour"]), int(payload["end_hour"])
    state.quiet_hours = None if start == end else (start, end)


def _first_run_answered(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    if payload["step"] not in state.first_run_answered:
        state.first_run_answered = [*state.first_run_answered, payload["step"]]


def _llm_processing(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    state.llm_processing = bool(payload["allowed"])


def _consent(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    # Only the purposes the recommender acts on; contact and integrations are their own modules' business.
    if payload["purpose"] == "core":
        state.core_processing = bool(payload["granted"])
    elif payload["purpose"] == "llm":
        state.llm_processing = bool(payload["granted"])


def _task_added(state: FeatureState, payload: dict[str, Any], at: datetime) -> None:
    if payload["task_id"] in state.done_tasks:
        return
    due, due_date = payload.get("due"), payload.get("due_date")
    state.tasks[payload["task_id"]] = TaskFact(
        task_id=payload["task_id"],
        title=payload["title"],
        due=datetime.fromisoformat(due) if isinstance(due, str) else due,
        due_date=date.fromisoformat(due_date) if isinstance(due_date, str) else due_date,
        estimated_minutes=payload.get("estimated_minutes"),
        priority=payload.get("priority", 1),
        added_at=at,
    )


def _task_synced(state: FeatureState, payload: dict[str, Any], at: datetime) -> None:
    task_id = payload["task_id"]
    if task_id in state.done_tasks:
        if not payload.get("recurring"):
            return  # done in oO: it stays done here even if the provider still shows it open
        # A recurring task comes back with its next due once its occurrence was done.
        state.done_tasks = [done for done in state.done_tasks if done != task_id]
    due, due_date = payload.get("due"), payload.get("due_date")
    previous = state.tasks.get(task_id)
    state.tasks[task_id] = TaskFact(
        task_id=task_id,
        provider=payload["provider"],
        due=datetime.fromisoformat(due) if isinstance(due, str) else due,
        due_date=date.fromisoformat(due_date) if isinstance(due_date, str) else due_date,
        estimated_minutes=payload.get("estimated_minutes"),
        priority=payload.get("priority", 1),
        recurring=bool(payload.get("recurring")),
        added_at=previous.added_at if previous is not None else at,
    )


def _task_removed(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    state.tasks.pop(payload["task_id"], None)


def _forget_tasks(state: FeatureState, provider: str) -> None:
    state.tasks = {key: task for key, task in state.tasks.items() if task.provider != provider}
    prefix = f"{provider}:"
    state.done_tasks = [done for done in state.done_tasks if not done.startswith(prefix)]


def _provider_forgotten(state: FeatureState, payload: dict[str, Any], at: datetime) -> None:
    """A provider forgotten (disconnected, or its consent withdrawn): its tasks and its busy blocks go."""
    _forget_tasks(state, payload["provider"])
    _forget_calendar(state, payload, at)


def _task_completed(state: FeatureState, payload: dict[str, Any], _at: datetime) -> None:
    state.tasks.pop(payload["task_id"], None)
    state.done_tasks = [*state.done_tasks[-(DONE_TASKS_KEPT - 1) :], payload["task_id"]]


def _busy(state: FeatureState, payload: dict[str, Any], at: datetime) -> None:
    start, end = datetime.fromisoformat(payload["start"]), datetime.fromisoformat(payload["end"])
    kept = [(s, e) for s, e in state.busy_sources.get(POSTED_BUSY, []) if e > at - BUSY_PAST_KEPT]
    state.busy_sources[POSTED_BUSY] = sorted([*kept, (start, end)])[-POSTED_BUSY_KEPT:]
    _merge_busy(state, at)


def _busy_synced(state: FeatureState, payload: dict[str, Any], at: datetime) -> None:
    """A calendar's blocks within the window replace what was known of it there: a block moved or
    deleted at the provider disappears; blocks outside the window stay as they were."""
    window_start = datetime.fromisoformat(payload["window_start"])
    window_end = datetime.fromisoformat(payload["window_end"])
    outside = [
        (s, e) for s, e in state.busy_sources.get(payload["calendar"], []) if e <= window_start or s >= window_end
    ]
    synced = [(datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"])) for b in payload["intervals"]]
    blocks = sorted(block for block in [*outside, *synced] if block[1] > at - BUSY_PAST_KEPT)
    state.busy_sources[payload["calendar"]] = blocks[:SYNCED_BUSY_KEPT]
    _merge_busy(state, at)


def _forget_calendar(state: FeatureState, payload: dict[str, Any], at: datetime) -> None:
    """A calendar provider forgotten: its blocks go; the calendar stays known only through another source."""
    if state.busy_sources.pop(payload["provider"], None) is not None:
        _merge_busy(state, at)


def _merge_busy(state: FeatureState, at: datetime) -> None:
    state.busy_sources = {
        source: [(s, e) for s, e in blocks if e > at - BUSY_PAST_KEPT] for source, blocks in state.busy_sources.items()
    }
    state.busy = sorted(block for blocks in state.busy_sources.values() for block in blocks)
    state.calendar_known = bool(state.busy_sources)


def _tip_shown(state: FeatureState, payload: dict[str, Any], at: datetime) -> None:
    state.hour_shown[payload["local_hour"]] += 1
    state.last_tip_at = at
    state.tip_times = [*state.tip_times[-(TIP_TIMES_KEPT - 1) :], at]
    state.last_shown[payload["candidate_id"]] = at
    if len(state.last_shown) > 100:
        oldest = sorted(state.last_shown, key=lambda key: state.last_shown[key])[: len(state.last_shown) - 100]
        for key in oldest:
            del state.last_shown[key]


def _tip_reacted(state: FeatureState, payload: dict[str, Any], at: datetime) -> None:
    kind, reaction = payload["kind"], payload["reaction"]
    if reaction == "done":
        state.hour_done[payload["local_hour"]] += 1
    state.kind_done[kind] = _ema(state.kind_done.get(kind, 0.0), 1.0 if reaction == "done" else 0.0, REACTION_EMA)
    state.kind_dismiss[kind] = _ema(
        state.kind_dismiss.get(kind, 0.0), 1.0 if reaction == "dismiss" else 0.0, REACTION_EMA
    )
    candidate_id = payload["candidate_id"]
    key = f"{payload['source']}|{kind}|{payload['local_hour']}"
    counts = state.reactions.get(key, [0, 0, 0])
    counts[("done", "later", "dismiss").index(reaction)] += 1
    state.reactions[key] = counts
    state.affinity[candidate_id] = _ema(state.affinity.get(candidate_id, 0.0), REWARDS[Reaction(reaction)], 0.5)
    if len(state.affinity) > AFFINITIES_KEPT:
        del state.affinity[next(iter(state.affinity))]
    if reaction == "dismiss" and payload.get("fingerprint"):
        state.dismissed = [*state.dismissed[-(RECENT_DISMISSED - 1) :], payload["fingerprint"]]
    ref = payload.get("ref_id")
    if reaction == "done" and ref in state.tasks:
        _task_completed(state, {"task_id": ref}, at)
    if reaction == "done" and ref in state.habits:
        _habit_done(state, {"habit_id": ref}, at)


_HANDLERS = {
    "profile.checkin_recorded.v1": _checkin,
    "profile.checkin_recorded.v2": _checkin,
    "recommender.context_observed.v1": _context,
    "profile.timezone_set.v1": _timezone,
    "profile.habit_defined.v1": _habit_defined,
    "profile.habit_defined.v2": _habit_defined,
    "profile.habit_done.v1": _habit_done,
    "profile.habit_removed.v1": _habit_removed,
    "profile.quiet_hours_set.v1": _quiet_hours,
    "profile.llm_processing_set.v1": _llm_processing,
    "profile.consent_set.v1": _consent,
    "profile.first_run_answered.v1": _first_run_answered,
    "integrations.task_added.v1": _task_added,
    "integrations.task_added.v2": _task_added,
    "integrations.task_completed.v1": _task_completed,
    "integrations.task_synced.v1": _task_synced,
    "integrations.task_removed.v1": _task_removed,
    "integrations.task_deleted.v1": _task_deleted,
    "profile.checkin_removed.v1": _checkin_removed,
    "recommender.learning_forgotten.v1": _learning_forgotten,
    "integrations.provider_forgotten.v1": _provider_forgotten,
    "integrations.busy_interval_recorded.v1": _busy,
    "integrations.busy_synced.v1": _busy_synced,
    "recommender.tip_shown.v1": _tip_shown,
    "recommender.tip_reacted.v1": _tip_reacted,
}
