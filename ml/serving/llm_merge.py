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


def merge_cached(ctx: UserContext, rules: list[TipCandidate], cached: list[TipCandidate]) -> list[TipCandidate]:
    refs = {t["task_id"] for t in ctx.facts.get("tasks", [])} | {h["habit_id"] for h in ctx.facts.get("habits", [])}
    shown = ctx.facts.get("hours_since_shown", {})
    kept = list(rules)
    seen = [frozenset(text_fingerprint(c.text)) for c in kept]
    dismissed = [frozenset(f) for f in ctx.facts.get("dismissed_fingerprints", [])]
    for candidate in cached:
        if candidate.ref_id is not None and candidate.ref_id not in refs:
            continue
        since = shown.get(candidate.candidate_id)
        if since is not None and since < LLM_COOLDOWN_HOURS:
            continue
        text = frozenset(text_fingerprint(candidate.text))
        if any(overlap(text, other) >= NEAR_DUPLICATE for other in (*seen, *dismissed)):
            continue
        kept.append(candidate)
        seen.append(text)
    return kept
