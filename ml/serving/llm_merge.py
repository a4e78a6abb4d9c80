"""Cached LLM candidates join the rules' at request time: still true, not shown lately, not a repeat.

A cached tip is dropped when the task or habit it names is gone (done, removed), when it was shown
within `LLM_COOLDOWN_HOURS`, or when it says nearly what another candidate says (word overlap;
the `embedder` alias replaces this lexical measure when it is configured).
"""

from __future__ import annotations

import re

from oo_contracts.recommendation import TipCandidate, UserContext

LLM_COOLDOWN_HOURS = 24.0
NEAR_DUPLICATE = 0.6  # Jaccard overlap of content words
WORD = re.compile(r"[a-z0-9']+")
STOP = frozenset(
    {"a", "an", "the", "to", "of", "for", "and", "or", "in", "on", "at", "it", "is", "be", "your", "you"}
    | {"this", "that", "with", "while", "now"}
)


def words(text: str) -> frozenset[str]:
    return frozenset(w for w in WORD.findall(text.lower()) if w not in STOP)


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def merge_cached(ctx: UserContext, rules: list[TipCandidate], cached: list[TipCandidate]) -> list[TipCandidate]:
    refs = {t["task_id"] for t in ctx.facts.get("tasks", [])} | {h["habit_id"] for h in ctx.facts.get("habits", [])}
    shown = ctx.facts.get("hours_since_shown", {})
    kept = list(rules)
    seen = [words(c.text) for c in kept]
    for candidate in cached:
        if candidate.ref_id is not None and candidate.ref_id not in refs:
            continue
        since = shown.get(candidate.candidate_id)
        if since is not None and since < LLM_COOLDOWN_HOURS:
            continue
        text = words(candidate.text)
        if any(overlap(text, other) >= NEAR_DUPLICATE for other in seen):
            continue
        kept.append(candidate)
        seen.append(text)
    return kept
