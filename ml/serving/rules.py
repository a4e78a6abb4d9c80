"""Rule generators: one per signal source. Each candidate says why, from the facts that produced it.

Cooldowns: a candidate shown less than its source's cooldown ago is not proposed again. Nothing is
proposed for a task already done (done tasks leave the feature state).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ml.serving.advice_library import ADVICE, mood_band, time_of_day
from ml.serving.onboarding import ONBOARDING_COOLDOWN_HOURS, onboarding_step
from oo_contracts.events import TipKind
from oo_contracts.recommendation import TipCandidate, TipPrompt, UserContext

SOURCES = ("quick_win", "amnesty", "habit", "energy_match", "break", "advice", "checkin")
COOLDOWN_HOURS = {
    "quick_win": 3.0,
    "amnesty": 48.0,
    "habit": 6.0,
    "energy_match": 4.0,
    "break": 2.0,
    "advice": 72.0,
    "checkin": 4.0,
}
QUICK_WIN_MAX_MINUTES = 30
AMNESTY_AFTER_DAYS = 3


def _duration(minutes: float, *, adjective: bool = False) -> str:
    """25 → "25 minutes" ("25-minute"); 115 → "2 hours" ("2-hour"); 135 → "2.5 hours"."""
    if minutes < 90:
        return f"{int(minutes)}-minute" if adjective else f"{int(minutes)} minutes"
    hours = round(minutes / 30) / 2
    number = f"{hours:g}"
    return f"{number}-hour" if adjective else f"{number} hours"


def _due_phrase(hours: float | None) -> str | None:
    if hours is None:
        return None
    if hours < 0:
        days = int(-hours // 24)
        return "due today, already past" if days == 0 else f"waiting since {days} day{'s' * (days > 1)} ago"
    if hours < 24:
        return "due today" if hours < 12 else "due within a day"
    if hours < 48:
        return "due tomorrow"
    return f"due in {int(hours // 24)} days"


def _candidate_id(source: str, key: str) -> str:
    return f"{source}:{key}"


def _candidate(
    source: str, kind: TipKind, key: str, text: str, why: list[str], ref: str | None, ctx: UserContext, **extra: float
) -> TipCandidate:
    since = ctx.facts.get("hours_since_shown", {}).get(_candidate_id(source, key))
    features = {
        "fits_gap": extra.get("fits_gap", 0.0),
        "urgency": extra.get("urgency", 0.0),
        "effort": extra.get("effort", 0.3),
        "novelty": 1.0 if since is None else min(since / 48.0, 1.0),
    }
    return TipCandidate(
        candidate_id=_candidate_id(source, key),
        kind=kind,
        text=text,
        why=" · ".join(w for w in why if w),
        source=source,
        ref_id=ref,
        features=features,
    )


def _in_cooldown(ctx: UserContext, source: str, candidate_id: str) -> bool:
    since = ctx.facts.get("hours_since_shown", {}).get(candidate_id)
    return since is not None and since < COOLDOWN_HOURS[source]


def _resting(ctx: UserContext, source: str, key: str) -> bool:
    """Shown less than its source's cooldown ago. Generators pass over a resting candidate to the
    next best, so one task put off does not silence a list of fifty; `generate` drops any left."""
    return _in_cooldown(ctx, source, _candidate_id(source, key))


def _urgency(hours: float | None) -> float:
    return 0.0 if hours is None else 1.0 if hours <= 0 else 1.0 / (1.0 + hours / 24.0)


def quick_win(ctx: UserContext) -> list[TipCandidate]:
    gap = ctx.features["free_minutes"]
    if ctx.features["busy_now"] or gap < 5:
        return []
    fitting = [
        t
        for t in ctx.facts["tasks"]
        if t["estimated_minutes"]
        and t["estimated_minutes"] <= min(gap, QUICK_WIN_MAX_MINUTES)
        and not _resting(ctx, "quick_win", t["task_id"])
    ]
    fitting.sort(key=lambda t: (-_urgency(t["due_in_hours"]), -t["priority"], t["estimated_minutes"]))
    return [
        _candidate(
            "quick_win",
            TipKind.todo,
            t["task_id"],
            t["title"],
            [
                _due_phrase(t["due_in_hours"]) or "",
                f"fits your {_duration(gap, adjective=True)} gap",
                f"about {t['estimated_minutes']} min",
            ],
            t["task_id"],
            ctx,
            fits_gap=1.0,
            urgency=_urgency(t["due_in_hours"]),
            effort=t["estimated_minutes"] / 60.0,
        )
        for t in fitting[:2]
    ]


def amnesty(ctx: UserContext) -> list[TipCandidate]:
    old = [
        t
        for t in ctx.facts["tasks"]
        if t["due_in_hours"] is not None
        and t["due_in_hours"] <= -24 * AMNESTY_AFTER_DAYS
        and not _resting(ctx, "amnesty", t["task_id"])
    ]
    old.sort(key=lambda t: t["due_in_hours"])
    return [
        _candidate(
            "amnesty",
            TipKind.todo,
            t["task_id"],
            f"Still want “{t['title']}”? Give it a new day, or let it go.",
            [_due_phrase(t["due_in_hours"]) or "", "a fresh date is a fine answer"],
            t["task_id"],
            ctx,
            urgency=0.5,
            effort=0.1,
        )
        for t in old[:1]
    ]


def habit(ctx: UserContext) -> list[TipCandidate]:
    hour = ctx.features["local_hour"]
    due = [
        h
        for h in ctx.facts["habits"]
        if not h["done_today"]
        and h["window_start_hour"] <= hour < h["window_end_hour"]
        and not _resting(ctx, "habit", h["habit_id"])
    ]
    return [
        _candidate(
            "habit",
            TipKind.todo,
            h["habit_id"],
            f"Time for {h['name']}.",
            [
                f"your usual {h['window_start_hour']:02d}–{h['window_end_hour']:02d} window",
                f"kept up {int(h['strength'] * 100)}% lately",
            ],
            h["habit_id"],
            ctx,
            fits_gap=1.0 if not ctx.features["busy_now"] else 0.0,
            urgency=0.6,
            effort=h["effort"] / 3.0,
        )
        for h in due[:2]
    ]


def energy_match(ctx: UserContext) -> list[TipCandidate]:
    if not ctx.features["energy_known"] or ctx.features["busy_now"]:
        return []
    energy, tasks = ctx.features["energy"], ctx.facts["tasks"]
    sized = [t for t in tasks if t["estimated_minutes"] and not _resting(ctx, "energy_match", t["task_id"])]
    if energy >= 4 and sized:
        task = max(sized, key=lambda t: (t["priority"], t["estimated_minutes"]))
        why = ["your energy is high", f"about {task['estimated_minutes']} min", _due_phrase(task["due_in_hours"]) or ""]
        return [
            _candidate(
                "energy_match",
                TipKind.todo,
                task["task_id"],
                f"Use the energy: {task['title']}",
                why,
                task["task_id"],
                ctx,
                urgency=_urgency(task["due_in_hours"]),
                effort=min(task["estimated_minutes"] / 60.0, 1.0),
                fits_gap=1.0 if task["estimated_minutes"] <= ctx.features["free_minutes"] else 0.0,
            )
        ]
    if energy <= 2 and sized:
        task = min(sized, key=lambda t: t["estimated_minutes"])
        if task["estimated_minutes"] <= 15:
            return [
                _candidate(
                    "energy_match",
                    TipKind.todo,
                    task["task_id"],
                    f"Something light: {task['title']}",
                    ["energy is low", f"only about {task['estimated_minutes']} min"],
                    task["task_id"],
                    ctx,
                    urgency=_urgency(task["due_in_hours"]),
                    effort=0.1,
                    fits_gap=1.0,
                )
            ]
    return []


def take_a_break(ctx: UserContext) -> list[TipCandidate]:
    block = ctx.features["just_ended_block_minutes"]
    if block < 90:
        return []
    return [
        _candidate(
            "break",
            TipKind.advice,
            "after-block",
            "Stand up, drink some water, and look out a window.",
            [f"after {_duration(block)} of busy time"],
            None,
            ctx,
            fits_gap=1.0,
            effort=0.0,
        )
    ]


def advice(ctx: UserContext) -> list[TipCandidate]:
    moment = time_of_day(int(ctx.features["local_hour"]))
    mood = mood_band(ctx.features["mood"]) if ctx.features["energy_known"] else "ok"
    energy = ctx.features["energy"]
    fitting = [
        a
        for a in ADVICE
        if moment in a.times and mood in a.moods and (a.energy == "any" or (a.energy == "low") == (energy <= 2))
    ]
    shown = ctx.facts.get("hours_since_shown", {})
    fitting = [a for a in fitting if not _resting(ctx, "advice", a.advice_id)]
    fitting.sort(key=lambda a: shown.get(_candidate_id("advice", a.advice_id), 1e9), reverse=True)
    reason = {"low": "for a heavier moment", "ok": "a small reset", "high": "while you're feeling good"}[mood]
    return [
        _candidate(
            "advice", TipKind.advice, a.advice_id, a.text, [f"{moment}", reason], None, ctx, fits_gap=1.0, effort=0.05
        )
        for a in fitting[:2]
    ]


def checkin(ctx: UserContext) -> list[TipCandidate]:
    if ctx.features["hours_since_checkin"] < 6:
        return []
    why = "no check-in yet" if ctx.features["hours_since_checkin"] >= 99 else "a few hours since your last check-in"
    return [
        _candidate(
            "checkin",
            TipKind.checkin,
            "energy",
            "How's your energy right now?",
            [why, "it helps pick what fits"],
            None,
            ctx,
            fits_gap=1.0,
            effort=0.0,
        ).model_copy(update={"prompt": TipPrompt.checkin})
    ]


GENERATORS: tuple[Callable[[UserContext], list[TipCandidate]], ...] = (
    quick_win,
    amnesty,
    habit,
    energy_match,
    take_a_break,
    advice,
    checkin,
)


def generate(ctx: UserContext) -> list[TipCandidate]:
    """The first-run step if one is due; otherwise every rule's candidates, minus those within their
    cooldown, one per id."""
    shown: dict[str, Any] = ctx.facts.get("hours_since_shown", {})
    step = onboarding_step(ctx)
    if step is not None and shown.get(step.candidate_id, ONBOARDING_COOLDOWN_HOURS) >= ONBOARDING_COOLDOWN_HOURS:
        return [step]
    seen: set[str] = set()
    candidates = []
    for generator in GENERATORS:
        for candidate in generator(ctx):
            if candidate.candidate_id in seen or _in_cooldown(ctx, candidate.source, candidate.candidate_id):
                continue
            seen.add(candidate.candidate_id)
            candidates.append(candidate)
    return candidates
