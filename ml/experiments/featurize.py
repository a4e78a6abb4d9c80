"""Candidate × context features the policies score: one fixed, named vector per candidate.

What a person's taste and rhythm live in, compactly:
- each source's level, and how it shifts with low energy, low mood and the late hours;
- the candidate's own numbers (fits the gap, urgency, importance, effort, novelty) and its own record
  with this person (`affinity`: a person likes *this* tip), with the interactions a friend weighs
  (effort against energy, urgency with importance);
- the moment, shared by every tip against silence: a three-hour time-of-day basis, apart on weekdays
  and weekends (receptive hours, learnt), this hour's done rate (receptive hours, recorded), busy,
  how many tips came in the last hours (fatigue), a tip just shown, and how this kind of tip has
  fared lately.
"""

from __future__ import annotations

import numpy as np

from oo_contracts.recommendation import TipCandidate, UserContext

KNOWN_SOURCES = ("task", "quick_win", "amnesty", "habit", "energy_match", "break", "advice", "checkin", "llm")
SOURCE_SHIFTS = ("bias", "low_energy", "low_mood", "late")
NUMBERS = ("fits_gap", "urgency", "importance", "effort", "novelty", "affinity")
CROSSES = ("effort*low_energy", "effort*high_energy", "urgency*importance", "importance*high_energy")
HOUR_BINS = 8  # three hours each
MOMENT = (
    *(f"hour{b * 3:02d}*{day}" for day in ("weekday", "weekend") for b in range(HOUR_BINS)),
    "busy_now",
    "receptive",
    "fatigue",
    "recent_tip",
    "kind_dismissed",
)
FEATURE_NAMES = (*(f"src_{s}*{shift}" for s in KNOWN_SOURCES for shift in SOURCE_SHIFTS), *NUMBERS, *CROSSES, *MOMENT)
DIMENSION = len(FEATURE_NAMES)
# Every candidate has exactly one source, so the sources' bias columns sum to 1 in every row: along
# this direction lies the level all tips share, which no choice between tips depends on.
SHARED_LEVEL = np.array([1.0 if n.startswith("src_") and n.endswith("*bias") else 0.0 for n in FEATURE_NAMES])
SHARED_LEVEL /= np.linalg.norm(SHARED_LEVEL)
_SOURCE_INDEX = {s: i for i, s in enumerate(KNOWN_SOURCES)}
_SOURCE_BLOCK = len(KNOWN_SOURCES) * len(SOURCE_SHIFTS)
_HOUR_BASIS = FEATURE_NAMES.index("hour00*weekday")


def hour_feature(hour: float, weekend: bool) -> int:
    """The column of the time-of-day basis that is 1 at this local hour."""
    return _HOUR_BASIS + (HOUR_BINS if weekend else 0) + min(int(hour // 3), HOUR_BINS - 1)


def _moment(ctx: UserContext, kind_dismissed: float) -> np.ndarray:
    f = ctx.features
    hours = np.zeros(2 * HOUR_BINS)
    hours[hour_feature(f.local_hour, bool(f.weekend)) - _HOUR_BASIS] = 1.0
    # This hour's done rate against shown (smoothed, 0.5 with no history), centred: the person's own
    # receptive hours as their record says, beside the basis the policy learns them on.
    receptive = f.completion_rate_this_hour - 0.5
    rest = [
        f.busy_now,
        receptive,
        min(f.tips_last_3h, 4.0) / 4.0,
        1.0 if f.minutes_since_last_tip < 30 else 0.0,
        kind_dismissed,
    ]
    return np.concatenate([hours, rest])


def featurize(ctx: UserContext, candidates: list[TipCandidate]) -> np.ndarray:
    """A (len(candidates), DIMENSION) matrix."""
    f = ctx.features
    low_energy = 1.0 if f.energy is not None and f.energy <= 2 else 0.0
    high_energy = 1.0 if f.energy is not None and f.energy >= 4 else 0.0
    low_mood = 1.0 if f.mood is not None and f.mood <= 2 else 0.0
    late = 1.0 if f.local_hour >= 21 or f.local_hour < 6 else 0.0
    shifts = np.array([1.0, low_energy, low_mood, late])
    rows = np.zeros((len(candidates), DIMENSION))
    for row, candidate in enumerate(candidates):
        source = _SOURCE_INDEX.get(candidate.source, _SOURCE_INDEX["llm"])
        start = source * len(SOURCE_SHIFTS)
        rows[row, start : start + len(SOURCE_SHIFTS)] = shifts
        c = candidate.features
        numbers = [c.get(name, 0.0) for name in NUMBERS]
        effort, urgency, importance = c.get("effort", 0.3), c.get("urgency", 0.0), c.get("importance", 0.0)
        crosses = [effort * low_energy, effort * high_energy, urgency * importance, importance * high_energy]
        rows[row, _SOURCE_BLOCK:] = np.concatenate([numbers, crosses, _moment(ctx, f.dismiss_rate(candidate.kind))])
    return rows
