"""What an LLM-written tip must pass before it may reach a person.

Length and kind, references only to this person's real task and habit ids, no shaming words, and no
number the context does not contain (a model that invents "3 tasks due" or "a 40-minute gap" is
stating a fact it was not given). A tip failing any check is dropped with its reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from ml.serving import phrases
from oo_contracts.events import TipKind
from oo_contracts.recommendation import TITLE_SLOT, TipCandidate, UserContext, titles_in

MAX_TIPS = 5
# Words that blame: an oO tip never uses them, whoever wrote it.
SHAMING = (
    "overdue",
    "lazy",
    "failed",
    "failure",
    "should have",
    "behind on",
    "procrastinat",
    "guilt",
    "shame",
    "excuse",
    "finally",
    "still haven't",
    "again?",
)
# Timing claims a tip may make only when a task's due day bears them out (calendar days from today).
DUE_CLAIMS: dict[str, Callable[[int], bool]] = {
    "due today": lambda days: days == 0,
    "due tomorrow": lambda days: days == 1,
    "due yesterday": lambda days: days == -1,
}
# Words for the moment and the person's state: said only when the context bears them out.
DAY_WORDS: dict[str, frozenset[str]] = {
    "morning": frozenset({"early morning", "morning"}),
    "midday": frozenset({"midday"}),
    "lunch": frozenset({"midday"}),
    "afternoon": frozenset({"afternoon"}),
    "evening": frozenset({"evening", "late evening"}),
    "tonight": frozenset({"evening", "late evening", "night"}),
    "night": frozenset({"late evening", "night"}),
}
GAP = re.compile(r"\bgap\b|before your next|until your next|free for")
ENERGY_CLAIMS: dict[str, Callable[[int], bool]] = {
    "energy is high": lambda level: level >= 4,
    "high energy": lambda level: level >= 4,
    "energy is low": lambda level: level <= 2,
    "low energy": lambda level: level <= 2,
    "tired": lambda level: level <= 2,
}
MOOD_CLAIMS: dict[str, Callable[[int], bool]] = {
    "mood is low": lambda level: level <= 2,
    "feeling down": lambda level: level <= 2,
    "mood is good": lambda level: level >= 4,
    "feeling good": lambda level: level >= 4,
}
# A habit's record is the rules' to state, from the person's completions; an LLM is not given it.
HABIT_RECORD = re.compile(r"\bkept up\b|\bstreak\b|\d+ ?%|\bin a row\b|\bof the last\b")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


class LlmTip(BaseModel):
    kind: Literal["advice", "todo"]
    text: str = Field(min_length=3, max_length=120)
    why: str = Field(min_length=3, max_length=120)
    ref_id: str | None = None


class LlmTips(BaseModel):
    tips: list[LlmTip] = Field(max_length=MAX_TIPS)


def response_schema() -> dict[str, Any]:
    """The strict JSON schema the tip-generator must answer with (OpenAI `json_schema` format)."""
    tip = {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "text", "why", "ref_id"],
        "properties": {
            "kind": {"type": "string", "enum": ["advice", "todo"]},
            "text": {"type": "string", "maxLength": 120},
            "why": {"type": "string", "maxLength": 120},
            "ref_id": {"type": ["string", "null"]},
        },
    }
    return {
        "name": "tips",
        "strict": True,
        "schema": {
            "type": "object",
            "additionalProperties": False,
            "required": ["tips"],
            "properties": {"tips": {"type": "array", "maxItems": MAX_TIPS, "items": tip}},
        },
    }


def problem_with(tip: LlmTip, ctx: UserContext) -> str | None:
    """Why this tip may not be shown, or None when it passes."""
    tasks = {t.task_id: t for t in ctx.facts.tasks}
    habits = {h.habit_id for h in ctx.facts.habits}
    if tip.ref_id is not None and tip.ref_id not in tasks and tip.ref_id not in habits:
        return "unknown_ref"
    if tip.kind == "todo" and tip.ref_id is None:
        return "todo_without_ref"
    if any(task_id not in tasks for task_id in titles_in(f"{tip.text} {tip.why}")):
        return "unknown_ref"  # a provider task's slot (ADR 0023) for a task the person does not have
    # A slot stands for a title the model never read: its id's digits are no number it may state.
    claims = TITLE_SLOT.sub(" ", f"{tip.text} {tip.why}").lower()
    if any(word in claims for word in SHAMING):
        return "shaming"
    named = [tasks[tip.ref_id]] if tip.ref_id in tasks else list(tasks.values())
    for phrase, holds in DUE_CLAIMS.items():
        if phrase in claims and not any(t.due_in_days is not None and holds(t.due_in_days) for t in named):
            return "unsupported_fact"
    if unsupported_moment(claims, ctx):
        return "unsupported_fact"
    known = known_numbers(ctx)
    if any(number not in known for number in NUMBER.findall(claims)):
        return "unsupported_fact"
    return None


def unsupported_moment(claims: str, ctx: UserContext) -> bool:
    """A claim about the moment or the person's state that the context does not bear out."""
    f = ctx.facts
    if any(f.day_part not in parts for word, parts in DAY_WORDS.items() if re.search(rf"\b{word}\b", claims)):
        return True
    if GAP.search(claims) and f.minutes_to_next_busy is None:
        return True
    for word, level_holds in ENERGY_CLAIMS.items():
        if word in claims and (f.energy is None or not level_holds(f.energy)):
            return True
    for word, level_holds in MOOD_CLAIMS.items():
        if word in claims and (f.mood is None or not level_holds(f.mood)):
            return True
    return bool(HABIT_RECORD.search(claims))


def known_numbers(ctx: UserContext) -> set[str]:
    """Every number a tip may state: the ones in the person's tasks, habits, gap, counts and check-in."""
    numbers: set[float] = set()
    for task in ctx.facts.tasks:
        numbers.update(float(n) for n in NUMBER.findall(TITLE_SLOT.sub(" ", task.title)))
        numbers.update(v for v in (task.estimated_minutes, task.priority) if v is not None)
        if task.due_in_days is not None:
            numbers.add(abs(task.due_in_days))
    for habit in ctx.facts.habits:
        numbers.update(float(n) for n in NUMBER.findall(habit.name))
        numbers.update({habit.window_start_hour, habit.window_end_hour})
        if habit.duration_minutes:
            numbers.add(habit.duration_minutes)
    f = ctx.facts
    if f.minutes_to_next_busy is not None:
        numbers.add(f.minutes_to_next_busy)
    numbers.update(v for v in (f.energy, f.mood) if v is not None)
    numbers.update({len(f.tasks), f.local_time.hour, f.local_time.hour % 12 or 12})
    return {f"{int(n)}" if float(n).is_integer() else f"{n:g}" for n in numbers}


def why_from_facts(ref_id: str | None, ctx: UserContext) -> str:
    """The why a person sees for an LLM tip: oO's own, made of the recorded facts behind what the tip
    names, in the rules' clauses. A model's free-text why cannot be checked clause by clause, so it is
    only screened (`problem_with`) and never shown."""
    f = ctx.facts
    task = next((t for t in f.tasks if t.task_id == ref_id), None)
    habit = next((h for h in f.habits if h.habit_id == ref_id), None)
    if task is not None:
        clauses = [
            phrases.due(task, f.local_time.tzinfo),
            phrases.about(task.estimated_minutes) if task.estimated_minutes else None,
            phrases.priority(task.priority),
        ]
    elif habit is not None:
        in_window = habit.window_start_hour <= f.local_time.hour < habit.window_end_hour
        clauses = [phrases.window(habit) if in_window else None, phrases.habit_record(habit, habit.done_in_last_7_days)]
    else:
        clauses = [f.day_part, phrases.mood(f.mood) or phrases.energy(f.energy)]
    return " · ".join(c for c in clauses if c)


def to_candidate(tip: LlmTip, ctx: UserContext) -> TipCandidate:
    tasks = {t.task_id: t for t in ctx.facts.tasks}
    task = tasks.get(tip.ref_id or "")
    due = task.due_in_hours if task else None
    key = hashlib.sha256(tip.text.lower().encode()).hexdigest()[:12]
    since = ctx.facts.hours_since_shown.get(f"llm:{key}")
    return TipCandidate(
        candidate_id=f"llm:{key}",
        kind=TipKind(tip.kind),
        text=tip.text,
        why=why_from_facts(tip.ref_id, ctx),
        source="llm",
        ref_id=tip.ref_id,
        reasons=["llm"],
        features={
            "fits_gap": 1.0,
            "urgency": 0.0 if due is None else 1.0 if due <= 0 else 1.0 / (1.0 + due / 24.0),
            "importance": 0.0 if task is None else (task.priority - 1) / 3.0,
            "effort": 0.3,
            "novelty": 1.0 if since is None else min(since / 48.0, 1.0),
            "affinity": ctx.facts.affinity.get(f"llm:{key}", 0.0),
        },
    )
