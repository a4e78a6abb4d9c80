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

from oo_contracts.events import TipKind
from oo_contracts.recommendation import TipCandidate, UserContext

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
# Timing claims a tip may make only when a task's due time bears them out (hours from now).
DUE_CLAIMS: dict[str, Callable[[float], bool]] = {
    "due today": lambda hours: -12 < hours < 24,
    "due tomorrow": lambda hours: 12 <= hours < 48,
}
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
    tasks = {t["task_id"]: t for t in ctx.facts.get("tasks", [])}
    habits = {h["habit_id"]: h for h in ctx.facts.get("habits", [])}
    if tip.ref_id is not None and tip.ref_id not in tasks and tip.ref_id not in habits:
        return "unknown_ref"
    if tip.kind == "todo" and tip.ref_id is None:
        return "todo_without_ref"
    words = f"{tip.text} {tip.why}".lower()
    if any(word in words for word in SHAMING):
        return "shaming"
    claims = f"{tip.text} {tip.why}".lower()
    named = [tasks[tip.ref_id]] if tip.ref_id in tasks else list(tasks.values())
    for phrase, holds in DUE_CLAIMS.items():
        if phrase in claims and not any(t.get("due_in_hours") is not None and holds(t["due_in_hours"]) for t in named):
            return "unsupported_fact"
    known = known_numbers(ctx)
    if any(number not in known for number in NUMBER.findall(f"{tip.text} {tip.why}")):
        return "unsupported_fact"
    return None


def known_numbers(ctx: UserContext) -> set[str]:
    """Every number a tip may state: the ones in the person's tasks, habits, gap, counts and check-in."""
    numbers: set[float] = set()
    for task in ctx.facts.get("tasks", []):
        numbers.update(float(n) for n in NUMBER.findall(task["title"]))
        numbers.update(v for v in (task.get("estimated_minutes"), task.get("priority")) if v is not None)
        if task.get("due_in_hours") is not None:
            hours = abs(task["due_in_hours"])
            numbers.update({round(hours), hours // 24, round(hours / 24)})
    for habit in ctx.facts.get("habits", []):
        numbers.update(float(n) for n in NUMBER.findall(habit["name"]))
        numbers.update({habit["window_start_hour"], habit["window_end_hour"]})
    f = ctx.features
    numbers.update(int(f[k]) for k in ("free_minutes", "overdue_count", "due_today_count", "open_task_count"))
    numbers.update(int(f[k]) for k in ("energy", "mood", "local_hour") if k in f)
    numbers.add(int(f.get("local_hour", 0)) % 12 or 12)
    return {f"{int(n)}" if float(n).is_integer() else f"{n:g}" for n in numbers}


def to_candidate(tip: LlmTip, ctx: UserContext) -> TipCandidate:
    tasks = {t["task_id"]: t for t in ctx.facts.get("tasks", [])}
    task = tasks.get(tip.ref_id or "")
    due = task.get("due_in_hours") if task else None
    key = hashlib.sha256(tip.text.lower().encode()).hexdigest()[:12]
    since = ctx.facts.get("hours_since_shown", {}).get(f"llm:{key}")
    return TipCandidate(
        candidate_id=f"llm:{key}",
        kind=TipKind(tip.kind),
        text=tip.text,
        why=tip.why,
        source="llm",
        ref_id=tip.ref_id,
        features={
            "fits_gap": 1.0,
            "urgency": 0.0 if due is None else 1.0 if due <= 0 else 1.0 / (1.0 + due / 24.0),
            "effort": 0.3,
            "novelty": 1.0 if since is None else min(since / 48.0, 1.0),
        },
    )
