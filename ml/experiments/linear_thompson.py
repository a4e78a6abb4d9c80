"""Linear Thompson sampling over candidate × context features, with silence as an option.

Model: reward = θ·x + noise, θ ~ N(μ0, (λA)⁻¹) a priori (μ0 from `prior.py`). A tip's value is its
expected reward minus the cost of an interruption; silence is worth 0, so the policy stays silent
when no sampled tip value is positive — it learns *when* to choose silence from how tips fare.

State: precision A = λI + Σ x xᵀ and b = λμ0 + Σ r x (float64, base64). The decision is one posterior
draw; its propensity is the share of `draws` posterior draws (the decision's included) that pick the
same option, so it is never 0 and the options' probabilities sum to 1.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from ml.experiments.featurize import DIMENSION, featurize
from ml.experiments.policy import PolicyState, Selection
from ml.experiments.prior import prior_mean
from oo_contracts.recommendation import TipCandidate, UserContext


def _pack(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.float64).tobytes()).decode()


def _unpack(text: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float64).reshape(shape).copy()


@dataclass(frozen=True)
class LinearThompson:
    """Per-user Bayesian linear Thompson sampling from a population prior.

    >>> import numpy as np
    >>> policy = LinearThompson()
    >>> state = policy.initial_state()
    >>> state["n"]
    0
    """

    version: str = "lin-ts-v1"
    prior_precision: float = 2.0
    noise: float = 0.35
    tip_cost: float = 0.1
    draws: int = 32

    def initial_state(self) -> PolicyState:
        a = np.eye(DIMENSION) * self.prior_precision
        b = self.prior_precision * prior_mean()
        return {"version": self.version, "n": 0, "A": _pack(a), "b": _pack(b)}

    def _posterior(self, state: PolicyState) -> tuple[np.ndarray, np.ndarray]:
        a = _unpack(state["A"], (DIMENSION, DIMENSION))
        b = _unpack(state["b"], (DIMENSION,))
        chol = np.linalg.cholesky(a)
        mean = np.linalg.solve(a, b)
        return mean, chol

    def select(
        self, state: PolicyState, ctx: UserContext, candidates: list[TipCandidate], rng: np.random.Generator
    ) -> Selection:
        if not candidates:
            return Selection(None, 1.0, np.array([1.0]))
        mean, chol = self._posterior(state)
        x = featurize(ctx, candidates)
        # θ = μ + σ L⁻ᵀ z  has covariance σ² A⁻¹ when A = L Lᵀ.
        z = rng.standard_normal((DIMENSION, self.draws))
        thetas = mean[:, None] + self.noise * np.linalg.solve(chol.T, z)
        values = x @ thetas - self.tip_cost  # (candidates, draws)
        with_silence = np.vstack([np.zeros((1, self.draws)), values])
        winners = np.argmax(with_silence, axis=0)
        probabilities = np.bincount(winners, minlength=len(candidates) + 1) / self.draws
        choice = int(winners[0])
        return Selection(None if choice == 0 else choice - 1, float(probabilities[choice]), probabilities)

    def update(self, state: PolicyState, ctx: UserContext, candidate: TipCandidate, reward: float) -> PolicyState:
        """Fold in one shown tip's outcome value (done 1, later 0.3, not for me −0.3; see REWARDS)."""
        x = featurize(ctx, [candidate])[0]
        a = _unpack(state["A"], (DIMENSION, DIMENSION)) + np.outer(x, x)
        b = _unpack(state["b"], (DIMENSION,)) + reward * x
        return {"version": self.version, "n": int(state["n"]) + 1, "A": _pack(a), "b": _pack(b)}
