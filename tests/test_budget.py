"""The daily budget's send-or-hold rule: a tip is held only while the day's later hours are expected to
bring at least as many better tips as the budget has left."""

from __future__ import annotations

import numpy as np
import pytest

from ml.experiments.budget import TipChances, expected_better_later, worth_spending_now
from ml.experiments.featurize import DIMENSION, hour_feature
from ml.experiments.product import PRODUCT_POLICY

# A 9 o'clock slot's later hours, the policy tipping at each; 9 and 10, 19 and 20 share a bin.
EVERY_LATER = {10.0: 1.0, 13.0: 1.0, 16.0: 1.0, 19.0: 1.0, 20.0: 1.0}
EVENING_PERSON = {9.0: -0.3, 13.0: -0.3, 16.0: -0.3, 19.0: 1.0}


def _learnt(rewards_by_hour: dict[float, float], times: int = 30):
    posterior = PRODUCT_POLICY.posterior(PRODUCT_POLICY.initial_state())
    for hour, reward in rewards_by_hour.items():
        x = np.zeros(DIMENSION)
        x[hour_feature(hour, weekend=False)] = 1.0
        for _ in range(times):
            posterior.update(x, reward)
    return posterior


def test_with_nothing_learnt_each_later_hour_elsewhere_is_an_even_chance_of_better():
    fresh = _learnt({})
    assert expected_better_later(fresh, 9.0, False, EVERY_LATER) == pytest.approx(4 * 0.5)  # 10 h shares 9 h's bin
    # So a fresh policy holds only while twice its budget's worth of tipping hours remain.
    assert not worth_spending_now(fresh, 9.0, False, EVERY_LATER, budget_left=2)
    assert worth_spending_now(fresh, 9.0, False, EVERY_LATER, budget_left=3)
    assert worth_spending_now(fresh, 9.0, False, {10.0: 1.0, 13.0: 1.0}, budget_left=1)


def test_hours_never_tried_promise_more_than_hours_that_fared_badly():
    bad_mornings = _learnt({9.0: -0.3})
    assert expected_better_later(bad_mornings, 9.0, False, {13.0: 1.0}) > 0.95
    assert not worth_spending_now(bad_mornings, 9.0, False, {13.0: 1.0, 16.0: 1.0}, budget_left=1)
    assert worth_spending_now(bad_mornings, 9.0, False, {10.0: 1.0, 11.0: 1.0}, budget_left=1)  # the same bin


def test_the_surer_the_policy_that_a_later_hour_is_better_the_more_it_counts():
    once, often = _learnt({9.0: -0.3}, times=1), _learnt({9.0: -0.3}, times=30)
    midday = {13.0: 1.0}
    assert 0.5 < expected_better_later(once, 9.0, False, midday) < expected_better_later(often, 9.0, False, midday)


def test_a_later_hour_the_policy_never_tips_at_is_no_better_opportunity():
    evening_person = _learnt(EVENING_PERSON)
    assert not worth_spending_now(evening_person, 9.0, False, {19.0: 1.0, 20.0: 1.0}, budget_left=1)
    assert worth_spending_now(evening_person, 9.0, False, {19.0: 0.0, 20.0: 0.0}, budget_left=1)
    # Evenings surely better, each tipped at 40% (or 60%) of the time: 0.8 (1.2) expected, one tip left.
    assert worth_spending_now(evening_person, 9.0, False, {19.0: 0.4, 20.0: 0.4}, budget_left=1)
    assert not worth_spending_now(evening_person, 9.0, False, {19.0: 0.6, 20.0: 0.6}, budget_left=1)


def test_a_morning_tip_waits_for_evenings_that_fared_better_while_the_budget_cannot_cover_them():
    evening_person = _learnt(EVENING_PERSON)
    silent_middays = {10.0: 1.0, 13.0: 0.0, 16.0: 0.0, 19.0: 1.0, 20.0: 1.0}
    assert expected_better_later(evening_person, 9.0, False, silent_middays) == pytest.approx(2.0)
    assert not worth_spending_now(evening_person, 9.0, False, silent_middays, budget_left=1)
    assert not worth_spending_now(evening_person, 9.0, False, silent_middays, budget_left=2)
    # With three left, there is one to spend now; in the evening itself, it goes.
    assert worth_spending_now(evening_person, 9.0, False, silent_middays, budget_left=3)
    assert worth_spending_now(evening_person, 19.0, False, {20.0: 1.0, 21.0: 1.0}, budget_left=1)


def test_a_spent_budget_sends_nothing():
    assert not worth_spending_now(_learnt({}), 20.0, False, {}, budget_left=0)


def test_weekdays_and_weekends_are_learnt_apart():
    weekday_evenings, fresh = _learnt(EVENING_PERSON), _learnt({})
    assert expected_better_later(weekday_evenings, 9.0, True, EVERY_LATER) == pytest.approx(
        expected_better_later(fresh, 9.0, True, EVERY_LATER)
    )
    assert expected_better_later(weekday_evenings, 9.0, False, EVERY_LATER) > expected_better_later(
        fresh, 9.0, False, EVERY_LATER
    )


def test_tip_chances_are_the_policys_mean_chance_of_a_tip_at_each_hour_weekdays_and_weekends_apart():
    chances = TipChances()
    assert chances.at(19.0, False) == 1.0  # an hour never seen counts as one where the policy tips
    for chance in (0.2, 0.6, 0.0):
        chances.record(19.0, False, chance)
    chances.record(19.5, True, 0.9)
    assert chances.at(19.0, False) == pytest.approx(0.8 / 3)
    assert chances.at(19.25, True) == pytest.approx(0.9)
    assert chances.at(20.0, False) == 1.0
