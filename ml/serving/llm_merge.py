"""Cached LLM candidates join the rules' at request time: still true, not shown lately, not a repeat.

A cached tip is dropped when the task or habit it names is gone (done, removed), when it was shown
within `LLM_COOLDOWN_HOURS`, when it says nearly what another candidate says, or nearly what a tip
the person recently dismissed said (overlap of content words: dismissed tips are kept only as
hashed words, which no embedder can read; `llm_dedup.py` uses the embedder at generation time).
"""

from __future__ import annotations

from oo_contracts.recommendation import TipCandidate, UserContext, text_fingerprint

LLM_COOLDOWN_HOURS = 24.0
NEAR_DUPLICATE = 0.6  # Jaccard overlap of content words (hashed: `text_fingerprint`)


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def lexically_distinct(fresh: list[TipCandidate], seen: list[frozenset[str]]) -> list[TipCandidate]:
    """The fresh candidates whose words overlap neither a `seen` fingerprint nor one kept before them."""
    seen = list(seen)
    kept = []
    for candidate in fresh:
        words = frozenset(text_fingerprint(candidate.text))
        if any(overlap(words, other) >= NEAR_DUPLICATE for other in seen):
            continue
        seen.append(words)
        kept.append(candidate)
    return kept


def merge_cached(ctx: UserContext, rules: list[TipCandidate], cached: list[TipCandidate]) -> list[TipCandidate]:
    refs = {t.task_id for t in ctx.facts.tasks} | {h.habit_id for h in ctx.facts.habits}
    shown = ctx.facts.hours_since_shown
    current = [
        c
        for c in cached
        if (c.ref_id is None or c.ref_id in refs)
        and shown.get(c.candidate_id, LLM_COOLDOWN_HOURS) >= LLM_COOLDOWN_HOURS
    ]
    seen = [frozenset(text_fingerprint(c.text)) for c in rules]
    seen += [frozenset(f) for f in ctx.facts.dismissed_fingerprints]
    return [*rules, *lexically_distinct(current, seen)]
