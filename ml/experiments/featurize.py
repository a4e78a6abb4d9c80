"""Candidate × context features the policies score: one fixed, named vector per candidate.

Interactions (candidate basis ⊗ context basis) let one linear model learn that, say, advice works in
the evening when mood is low and todos work in the morning.
"""

from __future__ import annotations

import numpy as np

from oo_contracts.recommendation import TipCandidate, UserContext

KNOWN_SOURCES = ("quick_win", "amnesty", "habit", "energy_match", "break", "advice", "checkin", "llm")
CANDIDATE_BASIS = (*(f"src_{s}" for s in KNOWN_SOURCES), "fits_gap", "urgency", "novelty", "effort")
CONTEXT_BASIS = ("bias", "low_energy", "low_mood", "evening")
EXTRA = ("kind_fatigue", "recent_tip")
FEATURE_NAMES = (*(f"{c}*{x}" for c in CANDIDATE_BASIS for x in CONTEXT_BASIS), *EXTRA)
DIMENSION = len(FEATURE_NAMES)
# Every candidate has exactly one source, so the sources' bias columns sum to 1 in every row: along
# this direction lies the level all tips share, which no choice between tips depends on.
SHARED_LEVEL = np.array([1.0 if n.startswith("src_") and n.endswith("*bias") else 0.0 for n in FEATURE_NAMES])
SHARED_LEVEL /= np.linalg.norm(SHARED_LEVEL)


def context_basis(ctx: UserContext) -> np.ndarray:
    f = ctx.features
    hour = f["local_hour"]
    return np.array(
        [
            1.0,
            1.0 if f["energy_known"] and f["energy"] <= 2 else 0.0,
            1.0 if f["energy_known"] and f["mood"] <= 2 else 0.0,
            1.0 if hour >= 17 or hour < 5 else 0.0,
        ]
    )


def candidate_basis(candidate: TipCandidate) -> np.ndarray:
    source = candidate.source if candidate.source in KNOWN_SOURCES else "llm"
    one_hot = [1.0 if s == source else 0.0 for s in KNOWN_SOURCES]
    f = candidate.features
    return np.array(
        [*one_hot, f.get("fits_gap", 0.0), f.get("urgency", 0.0), f.get("novelty", 1.0), f.get("effort", 0.3)]
    )


def featurize(ctx: UserContext, candidates: list[TipCandidate]) -> np.ndarray:
    """A (len(candidates), DIMENSION) matrix."""
    context = context_basis(ctx)
    rows = []
    for candidate in candidates:
        interactions = np.outer(candidate_basis(candidate), context).ravel()
        fatigue = ctx.features.get(f"dismiss_rate_{candidate.kind.value}", 0.0)
        recent = 1.0 if ctx.features["minutes_since_last_tip"] < 30 else 0.0
        rows.append(np.concatenate([interactions, [fatigue, recent]]))
    return np.array(rows).reshape(len(candidates), DIMENSION)
