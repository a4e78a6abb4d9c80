"""Rule generators: what a thoughtful friend would consider now, each with a why of recorded facts.

One candidate per task: the reasons of every rule that wants it (due soon, fits the gap, matches the
energy, long overdue) are merged into it, so no task enters a decision twice. The moment decides
what is considered at all: nothing while the person is busy; late at night only rest, a habit in its
window or a task due within hours; low energy keeps heavy tasks out; high energy with an important
task due soon keeps trivial, distant ones out. Cooldowns: a candidate shown less than its cooldown
ago is not proposed again, and makes way for the next best.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from ml.serving import phrases
from ml.serving.advice_library import ADVICE, LIBRARY_TIME, Advice
from ml.serving.onboarding import ONBOARDING_COOLDOWN_HOURS, ONBOARDING_SOURCE, onboarding_step
from oo_contracts.events import TipKind
from oo_contracts.recommendation import HabitFacts, TaskFacts, TipCandidate, TipPrompt, UserContext

SOURCES = ("task", "quick_win", "amnesty", "habit", "energy_match", "break", "advice", "checkin")
COOLDOWN_HOURS = {
    "task": 3.0,
    "quick_win": 3.0,
    "amnesty": 48.0,
    "habit": 6.0,
    "energy_match": 4.0,
    "break": 2.0,
    "advice": 72.0,
    "checkin": 4.0,
}
QUICK_MINUTES = 15
AMNESTY_AFTER_DAYS = 3
TASK_CANDIDATES = 4
NIGHT_FROM, NIGHT_UNTIL = 22, 6
NIGHT_URGENT_HOURS = 3.0  # late at night, only a task due this soon is worth it
CHECKIN_AFTER_HOURS = 6.0
TURNED_DOWN_REST_HOURS = 24.0


def _is_night(ctx: UserContext) -> bool:
    hour = ctx.facts.local_time.hour
    return hour >= NIGHT_FROM or hour < NIGHT_UNTIL


def _hours_since_shown(ctx: UserContext, candidate_id: str) -> float | None:
    return ctx.facts.hours_since_shown.get(candidate_id)


def _shown_within(ctx: UserContext, candidate_id: str, hours: float) -> bool:
    since = _hours_since_shown(ctx, candidate_id)
    return since is not None and since < hours


def _resting(ctx: UserContext, candidate_id: str, sources: list[str]) -> bool:
    """Shown less than its cooldown ago; a candidate the person mostly turned down rests a day."""
    cooldown = max(COOLDOWN_HOURS[s] for s in sources)
    if ctx.facts.affinity.get(candidate_id, 0.0) < 0:
        cooldown = max(cooldown, TURNED_DOWN_REST_HOURS)
    return _shown_within(ctx, candidate_id, cooldown)


def _urgency(task: TaskFacts) -> float:
    hours = task.due_in_hours
    return 0.0 if hours is None else 1.0 if hours <= 0 else 1.0 / (1.0 + hours / 24.0)


def _novelty(ctx: UserContext, candidate_id: str) -> float:
    since = _hours_since_shown(ctx, candidate_id)
    return 1.0 if since is None else min(since / 48.0, 1.0)


def _known(ctx: UserContext, candidate_id: str) -> dict[str, float]:
    """What the person's record says of this very candidate: how new it is, how they took it."""
    return {"novelty": _novelty(ctx, candidate_id), "affinity": ctx.facts.affinity.get(candidate_id, 0.0)}


@dataclass
class _TaskView:
    """One task's case for being suggested now: the rules that want it, and the why they make."""

    task: TaskFacts
    rules: list[str] = field(default_factory=list)
    clauses: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        for rule in ("amnesty", "energy_match", "quick_win"):
            if rule in self.rules:
                return rule
        return "task"


def _task_case(ctx: UserContext, task: TaskFacts) -> _TaskView | None:
    f = ctx.facts
    energy, minutes, days = f.energy, task.estimated_minutes, task.due_in_days
    view = _TaskView(task)
    due_soon = days is not None and -AMNESTY_AFTER_DAYS < days <= 1
    if days is not None and days <= -AMNESTY_AFTER_DAYS:
        view.rules.append("amnesty")  # the question is whether to keep it, not how to do it
        view.clauses = [c for c in (phrases.due(task, f.local_time.tzinfo), phrases.priority(task.priority)) if c]
        return view
    if due_soon:
        view.rules.append("task")
    if task.priority >= 3:
        view.rules.append("task")
    fits_gap = minutes is not None and f.minutes_to_next_busy is not None and minutes <= f.minutes_to_next_busy
    if minutes is not None and minutes <= QUICK_MINUTES and (fits_gap or f.minutes_to_next_busy is None):
        view.rules.append("quick_win")
    if energy is not None and energy >= 4 and (task.priority >= 3 or (minutes or 0) >= 30 or due_soon):
        view.rules.append("energy_match")
    if energy is not None and energy <= 2 and minutes is not None and minutes <= QUICK_MINUTES:
        view.rules.append("energy_match")
    if not view.rules:
        return None
    view.clauses = [
        c
        for c in (
            phrases.due(task, f.local_time.tzinfo),
            phrases.energy(energy) if "energy_match" in view.rules else None,
            phrases.gap(f.minutes_to_next_busy) if fits_gap and f.minutes_to_next_busy is not None else None,
            phrases.about(minutes) if minutes is not None else None,
            phrases.priority(task.priority),
        )
        if c
    ][:3]
    return view


def _fits_the_moment(ctx: UserContext, task: TaskFacts, important_due: bool) -> bool:
    f = ctx.facts
    minutes = task.estimated_minutes
    hours = task.due_in_hours
    due_within = hours is not None and 0 < hours <= NIGHT_URGENT_HOURS
    if _is_night(ctx) and not (due_within and task.due_at is not None):
        return False
    if task.due_in_days is not None and task.due_in_days <= -AMNESTY_AFTER_DAYS:
        return True  # a new date or letting it go takes seconds, whatever the task's size
    if f.energy is not None and f.energy <= 2 and (minutes is None or minutes > QUICK_MINUTES):
        return task.due_in_days is not None and task.due_in_days <= 0 and task.due_at is not None and due_within
    if f.minutes_to_next_busy is not None and minutes is not None and minutes > f.minutes_to_next_busy:
        return False
    trivial_and_distant = task.priority <= 2 and (task.due_in_days is None or task.due_in_days > 2)
    return not (important_due and trivial_and_distant)


def tasks(ctx: UserContext) -> list[TipCandidate]:
    f = ctx.facts
    # Something important due soon keeps trivial, distant tasks out — unless energy is low, when the
    # light ones are what fits.
    low_energy = f.energy is not None and f.energy <= 2
    important_due = not low_energy and any(
        t.priority >= 3 and t.due_in_days is not None and t.due_in_days <= 2 for t in f.tasks
    )
    views = []
    for task in f.tasks:
        if not _fits_the_moment(ctx, task, important_due):
            continue
        view = _task_case(ctx, task)
        if view is None or _resting(ctx, _task_id(task), view.rules):
            continue
        views.append(view)
    views.sort(key=lambda v: (-_urgency(v.task) * v.task.priority, -v.task.priority, v.task.estimated_minutes or 60))
    return [_task_candidate(ctx, view) for view in views[:TASK_CANDIDATES]]


def _task_id(task: TaskFacts) -> str:
    return f"task:{task.task_id}"


def _task_candidate(ctx: UserContext, view: _TaskView) -> TipCandidate:
    task, source = view.task, view.source
    title = task.title
    text = {
        "amnesty": f"Still want “{title}”? Give it a new day, or let it go.",
        "energy_match": f"Use the energy: {title}"
        if ctx.facts.energy is not None and ctx.facts.energy >= 4
        else f"Something light: {title}",
    }.get(source, title)
    minutes = task.estimated_minutes
    gap = ctx.facts.minutes_to_next_busy
    return TipCandidate(
        candidate_id=_task_id(task),
        kind=TipKind.todo,
        text=text,
        why=" · ".join(view.clauses),
        source=source,
        ref_id=task.task_id,
        reasons=sorted(set(view.rules)),
        features={
            "fits_gap": 1.0 if minutes is not None and (gap is None or minutes <= gap) else 0.0,
            "urgency": _urgency(task),
            "importance": (task.priority - 1) / 3.0,
            "effort": min((minutes or 30) / 60.0, 1.0),
            **_known(ctx, _task_id(task)),
        },
    )


def _habit_due(ctx: UserContext, h: HabitFacts) -> bool:
    """Not yet done in its period, and today is one of its days."""
    if h.cadence == "weekly":
        return h.days_since_done is None or h.days_since_done >= 7
    if h.cadence == "weekdays" and ctx.facts.weekend:
        return False
    return not h.done_today


def habit(ctx: UserContext) -> list[TipCandidate]:
    hour = ctx.facts.local_time.hour
    due = [
        h
        for h in ctx.facts.habits
        if _habit_due(ctx, h)
        and h.window_start_hour <= hour < h.window_end_hour
        and not _resting(ctx, f"habit:{h.habit_id}", ["habit"])
    ]
    return [_habit_candidate(ctx, h) for h in due[:2]]


def _habit_candidate(ctx: UserContext, h: HabitFacts) -> TipCandidate:
    clauses = [phrases.window(h), phrases.habit_record(h, h.done_in_last_7_days)]
    if h.duration_minutes:
        clauses.append(phrases.about(h.duration_minutes))
    return TipCandidate(
        candidate_id=f"habit:{h.habit_id}",
        kind=TipKind.todo,
        text=f"Time for {h.name}.",
        why=" · ".join(clauses),
        source="habit",
        ref_id=h.habit_id,
        reasons=["habit"],
        features={
            "fits_gap": 1.0,
            "urgency": 0.6,
            "importance": 0.5,
            "effort": (h.duration_minutes or 20 * h.effort) / 60.0,
            **_known(ctx, f"habit:{h.habit_id}"),
        },
    )


def take_a_break(ctx: UserContext) -> list[TipCandidate]:
    block = ctx.facts.ended_block_minutes
    if block < 90 or _resting(ctx, "break:after-block", ["break"]):
        return []
    return [
        TipCandidate(
            candidate_id="break:after-block",
            kind=TipKind.advice,
            text="Stand up, drink some water, and look out a window.",
            why=phrases.after_block(block),
            source="break",
            reasons=["break"],
            features={
                "fits_gap": 1.0,
                "urgency": 0.3,
                "importance": 0.3,
                "effort": 0.0,
                **_known(ctx, "break:after-block"),
            },
        )
    ]


def _advice_fits(a: Advice, ctx: UserContext) -> bool:
    f = ctx.facts
    mood = "low" if f.mood is not None and f.mood <= 2 else "high" if f.mood is not None and f.mood >= 4 else "ok"
    low_energy = f.energy is not None and f.energy <= 2
    return (
        LIBRARY_TIME[f.day_part] in a.times
        and mood in a.moods
        and (a.energy == "any" or (a.energy == "low") == low_energy)
    )


def advice(ctx: UserContext) -> list[TipCandidate]:
    f = ctx.facts
    fitting = [a for a in ADVICE if _advice_fits(a, ctx) and not _resting(ctx, f"advice:{a.advice_id}", ["advice"])]
    # The least recently shown first, so a person meets the whole library before a repeat; among the
    # never shown, an order of this person's own day, so not everyone starts with the same one.
    day = ctx.facts.local_time.date().isoformat()
    fitting.sort(
        key=lambda a: (
            -(_hours_since_shown(ctx, f"advice:{a.advice_id}") or 1e9),
            hashlib.sha256(f"{ctx.user_id}:{day}:{a.advice_id}".encode()).digest(),
        )
    )
    clauses = [f.day_part, phrases.mood(f.mood) or phrases.energy(f.energy) or ""]
    return [
        TipCandidate(
            candidate_id=f"advice:{a.advice_id}",
            kind=TipKind.advice,
            text=a.text,
            why=" · ".join(c for c in clauses if c),
            source="advice",
            reasons=["advice"],
            features={
                "fits_gap": 1.0,
                "urgency": 0.0,
                "importance": 0.2,
                "effort": 0.05,
                **_known(ctx, f"advice:{a.advice_id}"),
            },
        )
        for a in fitting[:1]
    ]


def checkin(ctx: UserContext) -> list[TipCandidate]:
    f = ctx.facts
    if ctx.features.hours_since_checkin < CHECKIN_AFTER_HOURS or _is_night(ctx):
        return []
    # The first-run check-in and this one are one question: "later" on either rests both.
    if _resting(ctx, "checkin:energy", ["checkin"]) or _shown_within(
        ctx, f"{ONBOARDING_SOURCE}:checkin", COOLDOWN_HOURS["checkin"]
    ):
        return []
    return [
        TipCandidate(
            candidate_id="checkin:energy",
            kind=TipKind.checkin,
            text="How are you right now?",
            why=phrases.since_checkin(ctx.features.hours_since_checkin, f.ever_checked_in),
            source="checkin",
            reasons=["checkin"],
            prompt=TipPrompt.checkin,
            features={
                "fits_gap": 1.0,
                "urgency": 0.0,
                "importance": 0.3,
                "effort": 0.0,
                **_known(ctx, "checkin:energy"),
            },
        )
    ]


GENERATORS: tuple[Callable[[UserContext], list[TipCandidate]], ...] = (tasks, habit, take_a_break, advice, checkin)


def generate(ctx: UserContext) -> list[TipCandidate]:
    """The first-run step if one is due; nothing while the person is busy; otherwise every rule's
    candidates, one per id."""
    step = onboarding_step(ctx)
    if step is not None and not _shown_within(ctx, step.candidate_id, ONBOARDING_COOLDOWN_HOURS):
        return [step]
    if ctx.facts.busy_now:
        return []
    seen: set[str] = set()
    candidates = []
    for generator in GENERATORS:
        for candidate in generator(ctx):
            if candidate.candidate_id not in seen:
                seen.add(candidate.candidate_id)
                candidates.append(candidate)
    return candidates


def in_cooldown(ctx: UserContext, candidate: TipCandidate) -> bool:
    """Whether a candidate (an LLM one, say) was shown less than its source's cooldown ago."""
    return _resting(ctx, candidate.candidate_id, [candidate.source if candidate.source in COOLDOWN_HOURS else "task"])
