"""Linear Thompson sampling over candidate × context features, with silence as an option.

Model: reward = θ·x + noise, θ ~ N(μ0, Λ⁻¹) a priori (μ0 from `prior.py`; Λ = λI, or with
`intercept_precision` a weaker precision along the level every tip shares, so that level is learnt
from the first rewards instead of being shrunk towards the prior — worth it without a population
prior). A tip's value is its expected reward minus the cost of an interruption; silence is worth 0,
so the policy stays silent when no sampled tip value is positive — it learns *when* to choose silence
from how tips fare.

State: the posterior covariance Σ = (Λ + Σ x xᵀ)⁻¹, kept by Sherman–Morrison rank-one updates, and
b = Λμ0 + Σ r x (float64, base64); the mean is Σb. A decision samples the candidates' values directly
from their joint posterior N(Xμ, σ² XΣXᵀ) — exactly Thompson sampling over θ, at the cost of a K×K
Cholesky instead of a d×d one. The decision is one draw; its propensity is the share of `draws`
draws (the decision's included) that pick the same option, so it is never 0 and the options'
probabilities sum to 1.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

import numpy as np

from ml.experiments.featurize import DIMENSION, FEATURE_NAMES, SHARED_LEVEL, featurize
from ml.experiments.policy import PolicyState, Selection
from ml.experiments.prior import prior_mean
from oo_contracts.recommendation import TipCandidate, UserContext

EFFECTS_LOGGED = 8


def _pack(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.float64).tobytes()).decode()


def _unpack(text: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float64).reshape(shape).copy()


@functools.cache
def _prior_state(policy: LinearThompson) -> PolicyState:
    """A policy's prior, computed once per configuration: every person without reactions yet starts from
    it, and building it (a 67×67 inverse, then base64) took ~0.3 ms on each of their decisions."""
    precision = policy.prior_precision * np.eye(DIMENSION)
    if policy.intercept_precision is not None:
        precision += (policy.intercept_precision - policy.prior_precision) * np.outer(SHARED_LEVEL, SHARED_LEVEL)
    mean = prior_mean() if policy.population_prior else np.zeros(DIMENSION)
    covariance, b = np.linalg.inv(precision), precision @ mean
    return {"version": policy.version, "n": 0, "cov": _pack(covariance), "b": _pack(b)}


@dataclass(frozen=True)
class LinearThompson:
    """Per-user Bayesian linear Thompson sampling from a population prior.

    >>> import numpy as np
    >>> policy = LinearThompson()
    >>> state = policy.initial_state()
    >>> state["n"]
    0
    """

    version: str = "lin-ts-v2"
    prior_precision: float = 2.0
    noise: float = 0.35
    tip_cost: float = 0.1
    draws: int = 32
    allow_silence: bool = True
    population_prior: bool = True  # False: a zero prior mean (for synthetic tracks with no population)
    intercept_precision: float | None = None  # along the shared level; None: prior_precision

    def initial_state(self) -> PolicyState:
        return dict(_prior_state(self))  # a copy: the cached one is shared by every newcomer

    def posterior(self, state: PolicyState) -> LinearThompsonPosterior:
        """The state decoded once, for many decisions in memory (the benchmark, batch replays)."""
        return LinearThompsonPosterior(
            self, _unpack(state["cov"], (DIMENSION, DIMENSION)), _unpack(state["b"], (DIMENSION,)), int(state["n"])
        )

    def select(
        self, state: PolicyState, ctx: UserContext, candidates: list[TipCandidate], rng: np.random.Generator
    ) -> Selection:
        if not candidates:
            return Selection(None, 1.0, np.array([1.0]))
        return self.posterior(state).select(featurize(ctx, candidates), rng)

    def update(self, state: PolicyState, ctx: UserContext, candidate: TipCandidate, reward: float) -> PolicyState:
        """Fold in one shown tip's outcome value (done 1, later 0.3, not for me −0.3; see REWARDS)."""
        posterior = self.posterior(state)
        posterior.update(featurize(ctx, [candidate])[0], reward)
        return posterior.state()


class LinearThompsonPosterior:
    def __init__(self, policy: LinearThompson, covariance: np.ndarray, b: np.ndarray, n: int) -> None:
        self.policy = policy
        self.covariance = covariance
        self.b = b
        self.n = n

    def select(self, x: np.ndarray, rng: np.random.Generator) -> Selection:
        """Choose among the rows of a (candidates × DIMENSION) feature matrix, or silence."""
        policy = self.policy
        mean = self.covariance @ self.b
        spread = x @ self.covariance @ x.T * policy.noise**2
        chol = np.linalg.cholesky(spread + 1e-9 * np.eye(len(x)))
        values = (x @ mean)[:, None] + chol @ rng.standard_normal((len(x), policy.draws)) - policy.tip_cost
        if policy.allow_silence:
            values = np.vstack([np.zeros((1, policy.draws)), values])
        winners = np.argmax(values, axis=0)
        counts = np.bincount(winners, minlength=len(values)) / policy.draws
        probabilities = counts if policy.allow_silence else np.concatenate([[0.0], counts])
        choice = int(winners[0]) + (0 if policy.allow_silence else 1)
        chosen = None if choice == 0 else choice - 1
        effects = {} if chosen is None else self.effects(x[chosen], mean)
        return Selection(chosen, float(probabilities[choice]), probabilities, effects)

    @staticmethod
    def effects(x: np.ndarray, mean: np.ndarray) -> dict[str, float]:
        """The features that moved this candidate's expected value most, each with its contribution
        (posterior mean × feature value), for the decision log."""
        contributions = mean * x
        largest = np.argsort(-np.abs(contributions))[:EFFECTS_LOGGED]
        return {FEATURE_NAMES[i]: round(float(contributions[i]), 4) for i in largest if contributions[i] != 0.0}

    def update(self, x: np.ndarray, reward: float) -> None:
        shrink = self.covariance @ x
        self.covariance -= np.outer(shrink, shrink) / (1.0 + x @ shrink)
        self.b += reward * x
        self.n += 1

    def state(self) -> PolicyState:
        return {"version": self.policy.version, "n": self.n, "cov": _pack(self.covariance), "b": _pack(self.b)}
