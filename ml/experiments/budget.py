"""A daily budget of interruptions spent at the slots the policy predicts best: send now, or hold.

With a budget of a few tips a day, showing the first tip whose sampled value beats silence spends the
budget by mid-morning, and a person whose receptive hours are in the evening gets nothing then
(oO-bench S2, capped). So a tip the policy chose is held for later only if the day still holds, in
expectation, at least as many better opportunities as tips left. A later hour is an opportunity only
as often as the policy chooses a tip there (`TipChances`: its own share of tip against silence at that
hour on past days; an hour it stays silent at is none), and a better one with the posterior
probability that the policy's learnt time-of-day effect there beats this hour's (the rest of a tip's
value does not depend on the hour, so it cancels). So the expected count is
`Σ P(tip at h) · P(effect(h) > effect(now))` over the later hours, against the tips left. Nothing here
is tuned: an hour never seen counts as one where the policy tips, and with nothing learnt each later
hour is an even chance, so a fresh policy holds only while twice its budget's worth of slots remain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ml.experiments.featurize import hour_feature
from ml.experiments.linear_thompson import LinearThompsonPosterior


class TipChances:
    """How often the policy chose a tip rather than silence at each local hour, weekdays and weekends
    apart: the mean of its probability of a tip over the past decisions at that hour (0 where nothing
    was proposed)."""

    def __init__(self) -> None:
        self.total: dict[tuple[bool, int], float] = {}
        self.count: dict[tuple[bool, int], int] = {}

    def record(self, hour: float, weekend: bool, chance: float) -> None:
        key = (weekend, int(hour))
        self.total[key] = self.total.get(key, 0.0) + chance
        self.count[key] = self.count.get(key, 0) + 1

    def at(self, hour: float, weekend: bool) -> float:
        key = (weekend, int(hour))
        return self.total[key] / self.count[key] if key in self.count else 1.0


def expected_better_later(
    posterior: LinearThompsonPosterior, hour: float, weekend: bool, later: Mapping[float, float]
) -> float:
    """How many of the day's later hours are expected to bring a tip worth more than one now; `later`
    maps each later hour to the chance that the policy chooses a tip there."""
    covariance, noise = posterior.covariance, posterior.policy.noise
    mean = covariance @ posterior.b
    now = hour_feature(hour, weekend)
    expected = 0.0
    for later_hour, chance in later.items():
        then = hour_feature(later_hour, weekend)
        if then == now:
            continue  # the same effect: never better
        spread = noise * math.sqrt(covariance[then, then] + covariance[now, now] - 2.0 * covariance[then, now])
        better = 0.5 * (1.0 + math.erf((mean[then] - mean[now]) / (spread * math.sqrt(2.0))))
        expected += chance * better
    return expected


def worth_spending_now(
    posterior: LinearThompsonPosterior, hour: float, weekend: bool, later: Mapping[float, float], budget_left: int
) -> bool:
    """Whether to send a chosen tip now with `budget_left` tips left today; `later` maps each of the day's
    later hours to the chance that the policy chooses a tip there (`TipChances.at`)."""
    if budget_left <= 0:
        return False
    return expected_better_later(posterior, hour, weekend, later) < budget_left
