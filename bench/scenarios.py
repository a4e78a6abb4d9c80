"""Scenario benchmark: is the first tip good? Realistic moments, judged as a thoughtful friend would.

Each moment of `bench/scenario_moments.py` is a person's real events folded by `FeatureState.apply`,
read by `assemble_context`, given candidates by `MlEngine.generate` (the rules; no LLM) and ranked
as `MlEngine.rank` ranks a new person's first ask: the product policy from its initial state. The
score is not one draw but the policy's logged propensities (`Selection.probabilities`): P(good) is
the mass on options the friend would pick, P(bad) the mass on options the friend never would. A
first-run step is shown, not chosen (propensity 1), exactly as `rank` does.

The propensities are shares of `draws` Thompson draws, so each seed's vector is noisy; the score
averages the vectors of `--seeds` seeds (each also checked to choose what `rank` chooses with it).
Every candidate's why is re-checked by `untrue_clauses`, the independent checker; it knows the
onboarding steps' clauses too, so those are checked, and no LLM candidate is generated here.
The baseline, run alongside: a uniform choice among the same candidates and silence.

    uv run python -m bench.scenarios [--seeds 20]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from bench.scenario_moments import MOMENTS, Moment
from ml.experiments.featurize import featurize
from ml.experiments.product import PRODUCT_POLICY
from ml.experiments.truth import untrue_clauses
from ml.features.context import assemble_context
from ml.features.state import FeatureState
from ml.serving.advice_library import ADVICE
from ml.serving.engine import MlEngine
from ml.serving.onboarding import ONBOARDING_SOURCE
from ml.serving.rules import SOURCES
from oo_contracts.events import TipKind
from oo_contracts.recommendation import GenerateRequest, RankRequest, TipCandidate, UserContext

TARGET_GOOD, TARGET_BAD = 0.85, 0.02
DEFAULT_SEEDS = 20
Option = TipCandidate | None  # None: silence


@dataclass(frozen=True)
class Scene:
    """A moment made real: the folded state, the context and the candidates oO would rank."""

    moment: Moment
    state: FeatureState
    now: datetime
    context: UserContext
    candidates: list[TipCandidate]

    @property
    def options(self) -> list[Option]:
        """[silence, candidate 0, candidate 1, …]: the order of `Selection.probabilities`."""
        return [None, *self.candidates]


def stage(moment: Moment, engine: MlEngine | None = None) -> Scene:
    state = FeatureState()
    for event in moment.events():
        state.apply(event)
    context = assemble_context("scenario", state, moment.now)
    response = asyncio.run((engine or MlEngine()).generate(GenerateRequest(context=context)))
    return Scene(moment, state, moment.now, context, response.candidates)


def matches(label: str, option: Option) -> bool:
    if option is None:
        return label == "silence"
    if label.startswith("kind:"):
        return option.kind.value == label.removeprefix("kind:")
    return option.candidate_id == label if ":" in label else option.source == label


def verdict(scene: Scene, option: Option) -> str:
    """Whether a friend would pick this option ("good"), never would ("never"), or neither ("")."""
    if any(matches(label, option) for label in scene.moment.good.split()):
        return "good"
    if any(matches(label, option) for label in scene.moment.never.split()):
        return "never"
    return ""


def label_problems(scene: Scene) -> list[str]:
    """What is wrong with a moment's labels: a name oO does not use or the person does not have, an
    option both good and never, or no good option on offer (a renamed candidate id shows up here)."""
    moment, state = scene.moment, scene.state
    good, never = moment.good.split(), moment.never.split()
    problems = [f"{label} is both good and never" for label in set(good) & set(never)]
    advice_ids = {a.advice_id for a in ADVICE}
    for label in good + never:
        prefix, _, rest = label.partition(":")
        known = (
            label == "silence"
            or (not rest and label in (*SOURCES, ONBOARDING_SOURCE))
            or (prefix == "kind" and rest in {k.value for k in TipKind})
            or (prefix == "task" and rest in state.tasks)
            or (prefix == "habit" and rest in state.habits)
            or (prefix == "advice" and rest in advice_ids)
        )
        if not known:
            problems.append(f"{label} names nothing oO has for this person")
    for option in scene.options:
        if any(matches(label, option) for label in good) and any(matches(label, option) for label in never):
            problems.append(f"{_name(option)} is both good and never")
    if not any(verdict(scene, option) == "good" for option in scene.options):
        offered = ", ".join(_name(o) for o in scene.options)
        problems.append(f"no good option is on offer (good: {moment.good}; offered: {offered})")
    return problems


Chooser = Callable[[Scene], np.ndarray]  # a probability vector over scene.options


def _one_hot(size: int, index: int) -> np.ndarray:
    vector = np.zeros(size)
    vector[index] = 1.0
    return vector


def _onboarding_step(scene: Scene) -> np.ndarray | None:
    """A first-run step is shown, not chosen: `rank` returns it with propensity 1."""
    steps = [i for i, c in enumerate(scene.candidates) if c.source == ONBOARDING_SOURCE]
    return _one_hot(len(scene.options), 1 + steps[0]) if steps else None


def product_propensities(scene: Scene, seeds: int, engine: MlEngine) -> np.ndarray:
    """The product policy's propensity vector from its initial state, one row per seed; each seed's
    choice is checked to be the one `MlEngine.rank` makes with that seed."""
    step = _onboarding_step(scene)
    if step is not None:
        return np.tile(step, (seeds, 1))
    policy = engine.policy
    rows = []
    for seed in range(seeds):
        selection = policy.select(policy.initial_state(), scene.context, scene.candidates, np.random.default_rng(seed))
        ranked = asyncio.run(engine.rank(RankRequest(context=scene.context, candidates=scene.candidates, seed=seed)))
        chosen = None if selection.chosen is None else scene.candidates[selection.chosen].candidate_id
        if ranked.chosen != chosen:
            raise RuntimeError(f"{scene.moment.name}: seed {seed} ranks {ranked.chosen}, the policy chose {chosen}")
        rows.append(selection.probabilities)
    return np.array(rows)


def prior_mean_chooser(engine: MlEngine | None = None) -> Chooser:
    """A diagnostic, not a policy: the option the product policy's initial posterior mean ranks
    first (silence at 0), i.e. its choice without Thompson noise. Where it is good and the product's
    P(good) is low, the sampling noise spreads the mass; where it is not, the rules or the prior do."""
    policy = (engine or MlEngine()).policy
    posterior = policy.posterior(policy.initial_state())
    mean = posterior.covariance @ posterior.b

    def choose(scene: Scene) -> np.ndarray:
        step = _onboarding_step(scene)
        if step is not None:
            return step
        if not scene.candidates:
            return np.ones(1)
        values = np.concatenate([[0.0], featurize(scene.context, scene.candidates) @ mean - policy.tip_cost])
        return _one_hot(len(scene.options), int(np.argmax(values)))

    return choose


def uniform_chooser(scene: Scene) -> np.ndarray:
    return np.full(len(scene.options), 1.0 / len(scene.options))


def score(scene: Scene, probabilities: np.ndarray) -> tuple[float, float]:
    """(P(good), P(bad)) of the first tip under a probability vector over the scene's options."""
    verdicts = [verdict(scene, option) for option in scene.options]
    good = sum(p for p, v in zip(probabilities, verdicts, strict=True) if v == "good")
    bad = sum(p for p, v in zip(probabilities, verdicts, strict=True) if v == "never")
    return float(good), float(bad)


def mean_scores(scenes: list[Scene], chooser: Chooser) -> tuple[float, float]:
    scores = np.array([score(scene, chooser(scene)) for scene in scenes])
    return float(scores[:, 0].mean()), float(scores[:, 1].mean())


def untrue_whys(scene: Scene) -> list[tuple[TipCandidate, list[str]]]:
    """Every candidate whose why the independent checker rejects, with the clauses it rejects."""
    rejected = []
    for candidate in scene.candidates:
        wrong = untrue_clauses(candidate.why, scene.state, scene.now, candidate.ref_id)
        if wrong:
            rejected.append((candidate, wrong))
    return rejected


_MARKS = {"good": "✓", "never": "✗", "": "·"}


def _name(option: Option) -> str:
    return "silence" if option is None else option.candidate_id


def _mass(scene: Scene, probabilities: np.ndarray) -> str:
    ranked = sorted(zip(probabilities, scene.options, strict=True), key=lambda pair: -pair[0])
    return "  ".join(f"{_MARKS[verdict(scene, o)]}{_name(o)} {p:.0%}" for p, o in ranked if p >= 0.005)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS)
    args = parser.parse_args()

    engine = MlEngine()
    scenes = [stage(moment, engine) for moment in MOMENTS]
    problems = [f"{s.moment.name}: {p}" for s in scenes for p in label_problems(s)]
    if problems:
        raise SystemExit("the moments' labels are wrong:\n  " + "\n  ".join(problems))
    mean_pick = prior_mean_chooser(engine)
    print(
        f"Scenario benchmark: {len(scenes)} moments; oO = {PRODUCT_POLICY.version} from its initial state "
        f"({PRODUCT_POLICY.draws} Thompson draws a decision), propensities averaged over {args.seeds} seeds; "
        "baseline: uniform over the same candidates and silence"
    )
    print("  (✓ good, ✗ never, · neither; ← below a target; 'prior mean picks': its choice without Thompson noise)")
    print(
        f"  {'moment':38} {'oO good':>7} {'oO bad':>6} {'unif good':>9} {'unif bad':>8}  "
        f"{'prior mean picks':24} where oO's mass goes"
    )
    rows, good_by_seed = [], []
    for scene in scenes:
        by_seed = product_propensities(scene, args.seeds, engine)
        good_by_seed.append([score(scene, row)[0] for row in by_seed])
        probabilities = by_seed.mean(axis=0)
        good, bad = score(scene, probabilities)
        u_good, u_bad = score(scene, uniform_chooser(scene))
        picked = mean_pick(scene)
        pick = scene.options[int(np.argmax(picked))]
        m_good, m_bad = score(scene, picked)
        rows.append((good, bad, u_good, u_bad, m_good, m_bad))
        flag = "" if good >= TARGET_GOOD and bad <= TARGET_BAD else " ←"
        print(
            f"  {scene.moment.name:38} {good:7.0%} {bad:6.0%} {u_good:9.0%} {u_bad:8.0%}  "
            f"{_MARKS[verdict(scene, pick)] + _name(pick):24} {_mass(scene, probabilities)}{flag}"
        )
    means = np.array(rows).mean(axis=0)
    print(f"  {'mean over moments':38} {means[0]:7.1%} {means[1]:6.1%} {means[2]:9.1%} {means[3]:8.1%}")

    rejected = [(scene, candidate, wrong) for scene in scenes for candidate, wrong in untrue_whys(scene)]
    checked = sum(len(scene.candidates) for scene in scenes)
    print(f"\nwhys checked by untrue_clauses: {checked} candidates' whys in {len(scenes)} moments")
    for scene, candidate, wrong in rejected:
        print(f"  {scene.moment.name}: {candidate.candidate_id} «{candidate.why}» untrue: {'; '.join(wrong)}")

    ratio = means[0] / means[2] if means[2] > 0 else float("inf")
    per_seed = np.array(good_by_seed).mean(axis=0)  # each seed's mean P(good) over the moments
    spread = per_seed.std(ddof=1) / np.sqrt(len(per_seed)) if len(per_seed) > 1 else float("nan")
    failing = [s.moment.name for s, r in zip(scenes, rows, strict=True) if r[0] < TARGET_GOOD or r[1] > TARGET_BAD]
    print(
        f"\n  oO P(good) {means[0]:.1%} (± {spread:.1%}, the standard error over {args.seeds} seeds' draws) "
        f"vs uniform {means[2]:.1%}: ratio {ratio:.2f}×"
    )
    print(f"  target ≥ {TARGET_GOOD:.0%} good (mean over moments): {means[0]:.1%} {_met(means[0] >= TARGET_GOOD)}")
    print(f"  target ≤ {TARGET_BAD:.0%} bad (mean over moments): {means[1]:.1%} {_met(means[1] <= TARGET_BAD)}")
    print(f"  target 0 untrue whys: {len(rejected)} {_met(not rejected)}")
    print(f"  moments below a target on their own ({len(failing)}): {', '.join(failing) or 'none'}")
    print(
        f"  diagnostic — the prior's mean pick, without Thompson noise: P(good) {means[4]:.1%}, P(bad) {means[5]:.1%}"
    )


if __name__ == "__main__":
    main()
