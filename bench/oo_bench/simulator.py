"""oO-bench, simulator track (S2): simulated people, days of slots, fatigue, novelty, silence.

Each person has hidden tastes per tip source, an hour-of-day receptivity (different on weekends),
a fatigue that grows with every tip and fades, and a novelty penalty for repeats that recovers. Tasks
arrive, calendars fill, habits wait in their windows; rewards go missing when a tip is ignored.
oO runs for real: its feature state folds the simulated events, its rule generators propose, its
policy decides (silence included) and learns. Every policy meets the same people and the same coins.

    uv run python -m bench.oo_bench.simulator [--users 40] [--days 60] [--tuning] [--choosers oo oo_cap3]
"""

from __future__ import annotations

import argparse
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from bench.oo_bench.baselines import LinUCB
from ml.experiments.budget import TipChances, worth_spending_now
from ml.experiments.featurize import DIMENSION, featurize
from ml.experiments.product import PRODUCT_POLICY
from ml.features.context import assemble_context
from ml.features.state import FeatureState
from ml.serving.rules import SOURCES, generate
from oo_contracts.events import EventEnvelope, Reaction, envelope
from oo_contracts.recommendation import REWARDS, TipCandidate, UserContext

SLOT_HOURS = list(range(7, 22))  # 15 decision slots a day
ATTENTION_COST = 0.1
DAILY_BUDGET = 3  # the capped runs' tips a day
BASE_LOGIT = -2.6  # calibrated so that a random tip on a fixed schedule is worth little (see README)
VALUE = {"done": 1.0, "later": 0.3, "dismiss": 0.0, "ignored": 0.0}
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
EVALUATION_USERS = range(0, 40)
TUNING_USERS = range(1000, 1040)  # choices (the budget's rule, the product's configuration) are made on these
CHOOSERS = ("oo", "oo_cap3", "vw", "linucb", "schedule3", "uniform", "oracle", "oracle_cap3")


@dataclass
class Person:
    """Hidden truth about one simulated person (never shown to a policy)."""

    seed: int
    taste: dict[str, float]
    peak_weekday: float
    peak_weekend: float
    fatigue_sensitivity: float
    snooze: float
    rng: np.random.Generator
    fatigue: float = 0.0
    last_shown: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def draw(cls, seed: int) -> Person:
        rng = np.random.default_rng(seed)
        return cls(
            seed=seed,
            taste={source: float(rng.normal(0.0, 1.2)) for source in SOURCES},
            peak_weekday=float(rng.uniform(8, 20)),
            peak_weekend=float(rng.uniform(9, 21)),
            fatigue_sensitivity=float(rng.uniform(0.3, 1.0)),
            snooze=float(rng.uniform(0.1, 0.4)),
            rng=rng,
        )

    def receptivity(self, at: datetime) -> float:
        peak = self.peak_weekend if at.weekday() >= 5 else self.peak_weekday
        return 1.2 * math.exp(-((at.hour - peak) ** 2) / 18.0) - 0.4

    def probabilities(self, candidate: TipCandidate, at: datetime) -> tuple[float, float]:
        """(P(done), P(later)) of this tip now."""
        novelty = 0.0
        if candidate.candidate_id in self.last_shown:
            days = (at - self.last_shown[candidate.candidate_id]).total_seconds() / 86400
            novelty = 1.0 * 0.5 ** (days / 2.0)
        logit = (
            self.taste.get(candidate.source, -0.5)
            + self.receptivity(at)
            - self.fatigue_sensitivity * self.fatigue
            - novelty
            + 0.6 * candidate.features.get("fits_gap", 0.0)
            + 0.5 * candidate.features.get("urgency", 0.0)
            + BASE_LOGIT
        )
        done = 1.0 / (1.0 + math.exp(-logit))
        return done, (1.0 - done) * self.snooze

    def expected_utility(self, candidate: TipCandidate, at: datetime) -> float:
        done, later = self.probabilities(candidate, at)
        return done * VALUE["done"] + later * VALUE["later"] - ATTENTION_COST

    def react(self, candidate: TipCandidate, at: datetime, coin: float, ignore_coin: float) -> str:
        done, later = self.probabilities(candidate, at)
        self.fatigue += 1.0
        self.last_shown[candidate.candidate_id] = at
        if coin < done:
            return "done"
        if coin < done + later:
            return "later"
        return "ignored" if ignore_coin < 0.3 else "dismiss"

    def rest(self, hours: float) -> None:
        self.fatigue *= 0.5 ** (hours / 6.0)  # fatigue halves every six hours


def _event(event_type: str, payload: dict, at: datetime) -> EventEnvelope:
    return envelope(
        event_id=uuid.uuid4(), event_type=event_type, user_id="sim", occurred_at=at, source="sim", payload=payload
    )


class Life:
    """The exogenous stream of one person's days (tasks, busy blocks, habits), identical for all policies."""

    def __init__(self, seed: int, days: int) -> None:
        rng = np.random.default_rng(seed + 10_000)
        self.by_day: list[list[EventEnvelope]] = []
        task = 0
        for day in range(days):
            morning = START + timedelta(days=day, hours=6)
            events = []
            if day == 0:
                events.append(
                    _event(
                        "profile.habit_defined.v1",
                        {
                            "habit_id": "walk",
                            "name": "a short walk",
                            "window_start_hour": int(rng.integers(8, 17)),
                            "window_end_hour": 20,
                            "effort": 1,
                        },
                        morning,
                    )
                )
            for _ in range(int(rng.poisson(1.5))):
                task += 1
                due = morning + timedelta(hours=float(rng.uniform(-24, 96)))
                events.append(
                    _event(
                        "integrations.task_added.v1",
                        {
                            "task_id": f"t{task}",
                            "title": f"Task {task}",
                            "estimated_minutes": int(rng.integers(5, 60)),
                            "priority": int(rng.integers(1, 5)),
                            "due": due.isoformat(),
                        },
                        morning,
                    )
                )
            if morning.weekday() < 5:
                for _ in range(int(rng.integers(1, 4))):
                    start = morning + timedelta(hours=float(rng.integers(3, 12)))
                    events.append(
                        _event(
                            "integrations.busy_interval_recorded.v1",
                            {
                                "start": start.isoformat(),
                                "end": (start + timedelta(minutes=int(rng.integers(30, 150)))).isoformat(),
                            },
                            morning,
                        )
                    )
            self.by_day.append(events)


class _VowpalWithSilence:
    """VW `--cb_explore_adf --squarecb` with SILENT as one more action (the reference's VW+SILENT)."""

    def __init__(self, seed: int) -> None:
        from bench.oo_bench.baselines import VowpalSquareCB

        self.inner = VowpalSquareCB(seed=seed)
        self.pending = False

    def select(self, x: np.ndarray) -> int | None:
        silent = np.zeros((1, x.shape[1] if len(x) else 1))
        rows = np.vstack([x, silent]) if len(x) else silent
        lines = [*VowpalSquareCB_lines(rows[:-1]), "|s silent:1"]
        self.pending = True
        choice = self.inner.select_lines(lines)
        return None if choice == len(lines) - 1 else choice

    def learn(self, net_utility: float) -> None:
        if self.pending:
            # costs in [0, 1]: net utility spans [-0.1, 0.9]
            self.inner.learn_cost(0.9 - net_utility)
            self.pending = False


def VowpalSquareCB_lines(x: np.ndarray) -> list[str]:
    from bench.oo_bench.baselines import VowpalSquareCB

    return VowpalSquareCB._lines(x)


def decide_oo(policy_posterior, rng, ctx: UserContext, candidates: list[TipCandidate]) -> tuple[int | None, float]:
    """The policy's choice, and the chance that it chooses a tip here (0 with nothing to choose)."""
    if not candidates:
        return None, 0.0
    selection = policy_posterior.select(featurize(ctx, candidates), rng)
    return selection.chosen, 1.0 - float(selection.probabilities[0])


def simulate(seed: int, days: int, chooser: str) -> tuple[float, int, int]:
    """(net utility, tips shown, days) for one person under one policy."""
    person, life = Person.draw(seed), Life(seed, days)
    coins = np.random.default_rng(seed + 20_000).random((days, len(SLOT_HOURS), 3))
    state = FeatureState()
    state.apply(_event("recommender.context_observed.v1", {"timezone": "UTC", "device_class": "phone"}, START))
    policy = PRODUCT_POLICY
    vw = _VowpalWithSilence(seed) if chooser == "vw" else None
    linucb = LinUCB(DIMENSION, alpha=0.5) if chooser == "linucb" else None
    posterior = policy.posterior(policy.initial_state())
    chances = TipChances()
    rng = np.random.default_rng(seed + 30_000)
    utility, shown_total, previous = 0.0, 0, START
    for day in range(days):
        for event in life.by_day[day]:
            state.apply(event)
        shown_today = 0
        for slot, hour in enumerate(SLOT_HOURS):
            at = START + timedelta(days=day, hours=hour)
            person.rest((at - previous).total_seconds() / 3600)
            previous = at
            ctx = assemble_context("sim", state, at)
            candidates = generate(ctx)
            choice: int | None
            if chooser in ("oo", "oo_cap3"):
                weekend = bool(ctx.features.weekend)
                choice, chance = decide_oo(posterior, rng, ctx, candidates)
                if chooser == "oo_cap3" and choice is not None:
                    # The budget is the product's send-or-hold rule (ml/experiments/budget.py), not a cut-off.
                    later = {float(h): chances.at(h, weekend) for h in SLOT_HOURS[slot + 1 :]}
                    if not worth_spending_now(posterior, hour, weekend, later, DAILY_BUDGET - shown_today):
                        choice = None
                chances.record(hour, weekend, chance)
            elif chooser in ("oracle", "oracle_cap3"):
                values = [person.expected_utility(c, at) for c in candidates]
                capped = chooser == "oracle_cap3" and shown_today >= DAILY_BUDGET
                choice = int(np.argmax(values)) if values and max(values) > 0 and not capped else None
            elif vw is not None:
                choice = vw.select(featurize(ctx, candidates) if candidates else np.zeros((0, 1)))
            elif linucb is not None:
                # Silence is worth 0; a tip its optimistic value minus the attention cost.
                choice = linucb.select_or_silence(featurize(ctx, candidates), ATTENTION_COST) if candidates else None
            elif chooser == "uniform":
                choice = int(rng.integers(len(candidates))) if candidates else None
            elif chooser == "schedule3":
                choice = int(rng.integers(len(candidates))) if candidates and hour in (9, 13, 18) else None
            else:
                raise ValueError(chooser)
            if choice is None:
                if vw is not None:
                    vw.learn(0.0)  # silence's outcome is known at once: nothing gained, nothing spent
                continue
            candidate = candidates[choice]
            outcome = person.react(candidate, at, coins[day, slot, 0], coins[day, slot, 1])
            if vw is not None and outcome != "ignored":
                vw.learn(VALUE[outcome] - ATTENTION_COST)
            if linucb is not None and outcome != "ignored":
                linucb.update(featurize(ctx, [candidate])[0], VALUE[outcome])
            utility += VALUE[outcome] - ATTENTION_COST
            shown_total += 1
            shown_today += 1
            decision = str(uuid.uuid4())
            state.apply(
                _event(
                    "recommender.tip_shown.v1",
                    {
                        "decision_id": decision,
                        "candidate_id": candidate.candidate_id,
                        "kind": candidate.kind.value,
                        "source": candidate.source,
                        "local_hour": hour,
                    },
                    at,
                )
            )
            if outcome == "ignored":
                continue  # a missing reward: nothing to learn from
            if chooser in ("oo", "oo_cap3"):
                posterior.update(featurize(ctx, [candidate])[0], REWARDS[Reaction(outcome)])
            state.apply(
                _event(
                    "recommender.tip_reacted.v1",
                    {
                        "decision_id": decision,
                        "candidate_id": candidate.candidate_id,
                        "kind": candidate.kind.value,
                        "source": candidate.source,
                        "reaction": outcome,
                        "ref_id": candidate.ref_id,
                        "local_hour": hour,
                    },
                    at,
                )
            )
            if outcome == "done" and candidate.kind.value == "checkin":
                state.apply(
                    _event(
                        "profile.checkin_recorded.v1", {"energy": int(1 + coins[day, slot, 2] * 4.99), "mood": 3}, at
                    )
                )
    return utility, shown_total, days


def evaluate(users: range, days: int, chooser: str) -> np.ndarray:
    return np.array([simulate(seed, days, chooser) for seed in users])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=len(EVALUATION_USERS))
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--tuning", action="store_true", help="the tuning users (1000-), not the evaluation ones")
    parser.add_argument("--choosers", nargs="+", choices=CHOOSERS, default=CHOOSERS, metavar="CHOOSER")
    args = parser.parse_args()
    first = (TUNING_USERS if args.tuning else EVALUATION_USERS).start
    users = range(first, first + args.users)

    print(
        f"oO-bench S2 simulator: {len(users)} {'tuning' if args.tuning else 'evaluation'} users "
        f"({users.start}-{users.stop - 1}) × {args.days} days × {len(SLOT_HOURS)} slots; "
        f"oO runs the product's policy untuned ({PRODUCT_POLICY})"
    )
    oracle = evaluate(users, args.days, "oracle")
    oracle_per_day = oracle[:, 0] / oracle[:, 2]
    choosers = args.choosers
    for chooser in choosers:
        runs = oracle if chooser == "oracle" else evaluate(users, args.days, chooser)
        per_day = runs[:, 0] / runs[:, 2]
        share = per_day.mean() / oracle_per_day.mean()
        harmed = float(np.mean(per_day < 0))
        tips = float((runs[:, 1] / runs[:, 2]).mean())
        print(
            f"  {chooser:10} net utility/user-day {per_day.mean():+.3f}  {share:6.0%} of the myopic oracle  "
            f"{tips:4.1f} tips/user-day  {harmed:4.0%} of users net-harmed"
        )


if __name__ == "__main__":
    main()
