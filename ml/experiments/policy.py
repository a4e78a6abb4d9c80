"""The policy protocol every bandit policy implements, and what a selection returns.

A policy is pure: its per-user state is a JSON-able dict passed in and returned, its randomness an
injected `numpy.random.Generator`. `probabilities` covers every option — silence first, then each
candidate — and sums to 1, so every decision can be logged with its propensity and evaluated offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from oo_contracts.recommendation import TipCandidate, UserContext

PolicyState = dict[str, Any]


@dataclass(frozen=True)
class Selection:
    chosen: int | None  # index into the candidates; None for silence
    propensity: float
    probabilities: np.ndarray  # [silence, candidate 0, candidate 1, ...]
    effects: dict[str, float] = field(default_factory=dict)  # the chosen's largest feature contributions


class Policy(Protocol):
    version: str

    def initial_state(self) -> PolicyState: ...

    def select(
        self, state: PolicyState, ctx: UserContext, candidates: list[TipCandidate], rng: np.random.Generator
    ) -> Selection: ...

    def update(self, state: PolicyState, ctx: UserContext, candidate: TipCandidate, reward: float) -> PolicyState: ...
