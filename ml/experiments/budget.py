"""A daily budget of interruptions spent at the slots the policy predicts best: send now, or hold.

With a budget of a few tips a day, showing the first tip whose sampled value beats silence spends the
budget by mid-morning, and a person whose receptive hours are in the evening gets nothing then
(oO-bench S2, capped). So a tip the policy chose is sent now only if fewer of the day's remaining
slots than the budget left promise more. What they promise is the policy's own learnt time-of-day
effect: the posterior mean of the time-of-day basis at each remaining hour against this one's (the
rest of a tip's value does not depend on the hour, so it cancels). Nothing here is tuned: ties and
hours never learnt about keep their prior, and then the tip goes now, as it did without a budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from ml.experiments.featurize import hour_feature
from ml.experiments.linear_thompson import LinearThompsonPosterior


def worth_spending_now(
    posterior: LinearThompsonPosterior, hour: float, weekend: bool, later_hours: Sequence[float], budget_left: int
) -> bool:
    """Whether to send a chosen tip now with `budget_left` tips left today and `later_hours` still to come."""
    if budget_left <= 0:
        return False
    mean = posterior.covariance @ posterior.b
    now = mean[hour_feature(hour, weekend)]
    better_later = sum(1 for later in later_hours if mean[hour_feature(later, weekend)] > now)
    return better_later < budget_left
