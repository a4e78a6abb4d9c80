"""An independent check that every "what oO learned" sentence is true of the person's recorded reactions.

Written from the decision log alone — which tip each decision showed, at what local hour, and how the
person reacted — not from the feature state's counts or the policy that `learned.py` reads, and with
its own reading of the sentence's words: a mistake in the writer cannot hide behind a shared table.
A sentence is true when, among the reactions since learning was last forgotten to tips of the kind it
names, shown in the part of the day it names, there are at least five, and the reaction it names makes
at least its share of them: three in five for "act on", half for "say Later to" and "say Not for me to".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

AT_LEAST = 5
MEANING = {"act on": ("done", 0.6), "say Later to": ("later", 0.5), "say Not for me to": ("dismiss", 0.5)}
KINDS = {
    "tips about your tasks": "task",
    "quick wins": "quick_win",
    "offers to let an overdue task go": "amnesty",
    "habit reminders": "habit",
    "tasks matched to your energy": "energy_match",
    "break suggestions": "break",
    "advice": "advice",
    "check-in questions": "checkin",
    "suggestions written for you": "llm",
}
WHEN = {
    None: range(0, 24),
    "at night": range(0, 6),
    "in the morning": range(6, 12),
    "in the afternoon": range(12, 18),
    "in the evening": range(18, 24),
}
SENTENCE = re.compile(
    r"You tend to (act on|say Later to|say Not for me to) (.+?)"
    r"(?: (at night|in the morning|in the afternoon|in the evening))?"
)


@dataclass(frozen=True)
class RecordedReaction:
    source: str
    local_hour: int
    reaction: str
    reacted_at: datetime


def reactions_from_decisions(rows: Iterable[Mapping[str, Any]]) -> list[RecordedReaction]:
    """The reactions in decision-log rows (`recommender_decisions`: candidates, chosen, context, reaction,
    reacted_at): the shown candidate's source, and the local hour the decision saw."""
    found = []
    for row in rows:
        if row["reaction"] is None or row["chosen"] is None:
            continue
        shown = next(c for c in row["candidates"] if c["candidate_id"] == row["chosen"])
        local_time = datetime.fromisoformat(str(row["context"]["facts"]["local_time"]))
        found.append(RecordedReaction(shown["source"], local_time.hour, row["reaction"], row["reacted_at"]))
    return found


def untrue_learned(sentences: Iterable[str], reactions: list[RecordedReaction], since: datetime | None) -> list[str]:
    """The sentences that are unknown or untrue of the reactions after `since` (empty: all true)."""
    counted = [r for r in reactions if since is None or r.reacted_at > since]
    wrong = []
    for sentence in sentences:
        match = SENTENCE.fullmatch(sentence)
        if match is None or match[2] not in KINDS:
            wrong.append(sentence)
            continue
        reaction, share = MEANING[match[1]]
        hours = WHEN[match[3]]
        these = [r for r in counted if r.source == KINDS[match[2]] and r.local_hour in hours]
        named = sum(1 for r in these if r.reaction == reaction)
        if len(these) < AT_LEAST or named < share * len(these):
            wrong.append(sentence)
    return wrong
