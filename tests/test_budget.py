"""The daily budget's send-or-hold rule: a tip goes now unless enough later slots promise more."""

from __future__ import annotations

import numpy as np

from ml.experiments.budget import worth_spending_now
from ml.experiments.featurize import DIMENSION, hour_feature
from ml.experiments.product import PRODUCT_POLICY

LATER = [10.0, 13.0, 16.0, 19.0, 20.0]  # a 9 o'clock slot's later ones; 9 and 10, 19 and 20 share a bin
EVENING_PERSON = {9.0: -0.3, 13.0: -0.3, 16.0: -0.3, 19.0: 1.0}


def _learnt(rewards_by_hour: dict[float, float], times: int = 30):
    posterior = PRODUCT_POLICY.posterior(PRODUCT_POLICY.initial_state())
    for hour, reward in rewards_by_hour.items():
        x = np.zeros(DIMENSION)
        x[hour_feature(hour, weekend=False)] = 1.0
        for _ in range(times):
            posterior.update(x, reward)
    return posterior


def test_with_nothing_learnt_about_the_hours_the_tip_goes_now():
    fresh = _learnt({})
    assert worth_spending_now(fresh, 9.0, False, LATER, budget_left=1)


def test_hours_never_tried_promise_more_than_hours_that_fared_badly():
    bad_mornings = _learnt({9.0: -0.3})
    assert not worth_spending_now(bad_mornings, 9.0, False, [13.0, 16.0], budget_left=2)
    assert worth_spending_now(bad_mornings, 9.0, False, [10.0, 11.0], budget_left=1)  # the same bin: a tie


def test_a_morning_tip_waits_for_evenings_that_fared_better_while_the_budget_cannot_cover_them():
    evening_person = _learnt(EVENING_PERSON)
    # Only 19 and 20 h promise more than 9 h: with one or two tips left, the budget waits for them...
    assert not worth_spending_now(evening_person, 9.0, False, LATER, budget_left=1)
    assert not worth_spending_now(evening_person, 9.0, False, LATER, budget_left=2)
    # ...with three left, there is one to spend now; in the evening itself, it goes.
    assert worth_spending_now(evening_person, 9.0, False, LATER, budget_left=3)
    assert worth_spending_now(evening_person, 19.0, False, [20.0, 21.0], budget_left=1)


def test_a_spent_budget_sends_nothing():
    assert not worth_spending_now(_learnt({}), 9.0, False, LATER, budget_left=0)


def test_weekdays_and_weekends_are_learnt_apart():
    weekday_evenings = _learnt(EVENING_PERSON)
    assert worth_spending_now(weekday_evenings, 9.0, True, LATER, budget_left=1)
