"""What the policy learned about a person, in plain sentences their own record bears out (ADR 0026).

Read from the person's policy posterior against the population prior: for a kind of tip (its source),
over the day or in one quarter of it, the expected value of such a tip under the posterior and under
the prior, along the features that say "this source, at this time" (the source's level and the
time-of-day basis the policy learns receptive hours on). A sentence is said only when both hold:
- the record: at least `MIN_REACTIONS` reactions to that source in that quarter since learning was last
  forgotten, and one reaction makes at least its `SHARE` of them ("you tend to");
- the policy: the value it expects of such a tip now moved from what it assumed of a newcomer towards
  that reaction's reward by at least `MIN_SHIFT` (reward units) — it learned this, it was not assumed.
  "Now" includes what the feature state learned beside the posterior, which the prior already weighs:
  the kind's recent share of Not for me (`kind_dismissed`), the hours' done rates (`receptive`), and the
  tips' own record (`affinity`, here the group's average reward). A person who does their habit every
  morning teaches the policy through those more than through the habit's level, and it is still learnt.

The grammar is closed (`VERBS`, `PHRASES`, `PART_WORDS`), so `learned_truth.py` can re-derive every
sentence's claim from the decision log without this module's help.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ml.experiments.featurize import FEATURE_NAMES, HOUR_BINS
from ml.experiments.linear_thompson import LinearThompson
from ml.experiments.policy import PolicyState
from oo_contracts.events import Reaction, TipKind
from oo_contracts.knowledge import DayQuarter, LearnedRequest, LearnedSentence, LearnedVerdict, ReactionCount
from oo_contracts.recommendation import REWARDS

MIN_REACTIONS = 5
SHARE: dict[LearnedVerdict, float] = {"done": 0.6, "later": 0.5, "dismiss": 0.5}
MIN_SHIFT = 0.05
# The policy's time-of-day basis is three-hour bins from midnight; a quarter is two of them.
PARTS: dict[DayQuarter, range] = {
    "night": range(0, 6),
    "morning": range(6, 12),
    "afternoon": range(12, 18),
    "evening": range(18, 24),
}
PART_WORDS: dict[DayQuarter, str] = {
    "night": "at night",
    "morning": "in the morning",
    "afternoon": "in the afternoon",
    "evening": "in the evening",
}
VERBS: dict[LearnedVerdict, str] = {"done": "act on", "later": "say Later to", "dismiss": "say Not for me to"}
PHRASES = {
    "task": "tips about your tasks",
    "quick_win": "quick wins",
    "amnesty": "offers to let an overdue task go",
    "habit": "habit reminders",
    "energy_match": "tasks matched to your energy",
    "break": "break suggestions",
    "advice": "advice",
    "checkin": "check-in questions",
    "llm": "suggestions written for you",
}
_VERDICTS: tuple[LearnedVerdict, ...] = ("done", "later", "dismiss")
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _direction(source: str, part: DayQuarter | None) -> np.ndarray:
    """This source's level plus the average of the time-of-day columns of the quarter (or of the whole
    day), weekdays and weekends alike."""
    hours = PARTS[part] if part is not None else range(0, 24)
    columns = [
        _INDEX[f"hour{h:02d}*{day}"] for h in hours if h % (24 // HOUR_BINS) == 0 for day in ("weekday", "weekend")
    ]
    direction = np.zeros(len(FEATURE_NAMES))
    direction[_INDEX[f"src_{source}*bias"]] = 1.0
    direction[columns] += 1.0 / len(columns)
    return direction


def _kinds(reactions: list[ReactionCount]) -> dict[str, TipKind]:
    """Each source's usual kind of tip (an LLM's may be either)."""
    seen: defaultdict[str, defaultdict[TipKind, int]] = defaultdict(lambda: defaultdict(int))
    for count in reactions:
        seen[count.source][count.kind] += count.done + count.later + count.dismiss
    return {source: max(kinds, key=lambda kind: kinds[kind]) for source, kinds in seen.items()}


def _tallies(reactions: list[ReactionCount]) -> dict[tuple[str, DayQuarter | None], list[int]]:
    tallies: defaultdict[tuple[str, DayQuarter | None], list[int]] = defaultdict(lambda: [0, 0, 0])
    for count in reactions:
        if count.source not in PHRASES:
            continue
        part = next(name for name, hours in PARTS.items() if count.local_hour in hours)
        for key in ((count.source, None), (count.source, part)):
            tally = tallies[key]
            tally[0] += count.done
            tally[1] += count.later
            tally[2] += count.dismiss
    return tallies


def _verdict(tally: list[int]) -> LearnedVerdict | None:
    total = sum(tally)
    if total < MIN_REACTIONS:
        return None
    return next((v for v, n in zip(_VERDICTS, tally, strict=True) if n >= SHARE[v] * total), None)


def sentence_text(verdict: LearnedVerdict, source: str, part: DayQuarter | None) -> str:
    when = "" if part is None else f" {PART_WORDS[part]}"
    return f"You tend to {VERBS[verdict]} {PHRASES[source]}{when}"


def learned_sentences(policy: LinearThompson, request: LearnedRequest) -> list[LearnedSentence]:
    """The sentences the person's policy state and record both bear out, the day's first, then each
    quarter's that says something the day's does not."""
    policy_state: PolicyState | None = request.policy_state
    reactions = request.reactions
    if policy_state is None or policy_state.get("version") != policy.version or not policy_state.get("n"):
        return []
    posterior = policy.posterior(policy_state)
    prior = policy.posterior(policy.initial_state())
    mean, prior_mean = posterior.covariance @ posterior.b, prior.covariance @ prior.b
    found: list[LearnedSentence] = []
    day_verdicts: dict[str, LearnedVerdict] = {}
    kinds = _kinds(reactions)
    dismissed, receptive, affinity = _INDEX["kind_dismissed"], _INDEX["receptive"], _INDEX["affinity"]
    order: dict[DayQuarter | None, int] = {None: 0, **{part: i + 1 for i, part in enumerate(PARTS)}}
    for (source, part), tally in sorted(_tallies(reactions).items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
        verdict = _verdict(tally)
        if verdict is None or (part is not None and day_verdicts.get(source) == verdict):
            continue
        direction = _direction(source, part)
        now = direction.copy()
        now[dismissed] = request.dismiss_rates.get(kinds[source], 0.0)
        hours = PARTS[part] if part is not None else range(24)
        now[receptive] = float(np.mean([request.done_rates[h] for h in hours])) - 0.5
        now[affinity] = sum(n * REWARDS[Reaction(v)] for v, n in zip(_VERDICTS, tally, strict=True)) / sum(tally)
        before, after = float(prior_mean @ direction), float(mean @ now)
        toward = np.sign(REWARDS[Reaction(verdict)] - before)
        if toward * (after - before) < MIN_SHIFT:
            continue
        if part is None:
            day_verdicts[source] = verdict
        found.append(
            LearnedSentence(
                id=f"learned:{verdict}:{source}:{part or 'all'}",
                text=sentence_text(verdict, source, part),
                source=source,
                part=part,
                verdict=verdict,
                reactions=sum(tally),
                shift=round(after - before, 3),
            )
        )
    return found
