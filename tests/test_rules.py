"""Rule candidates: true reasons, cooldowns, nothing for a done task."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from ml.serving.advice_library import ADVICE
from ml.serving.rules import generate
from oo_contracts.events import EventEnvelope
from tests.ml_factory import NOON, busy_day_state, context_of, event, state_with


def by_source(candidates):
    return {c.source: c for c in candidates}


def test_a_busy_day_yields_quick_win_amnesty_habit_with_true_reasons():
    candidates = by_source(generate(context_of(busy_day_state())))
    quick = candidates["quick_win"]
    assert quick.ref_id == "t1"
    assert quick.kind == "todo"
    assert quick.why == "due tomorrow · fits your 25-minute gap · about 10 min"
    amnesty = candidates["amnesty"]
    assert amnesty.ref_id == "t2"
    assert "5 days" in amnesty.why
    assert not any(word in amnesty.text.lower() for word in ("overdue", "late", "failed", "should have"))
    assert candidates["habit"].why.startswith("your usual 11–14 window")


def test_nothing_is_proposed_for_a_task_already_done():
    state = busy_day_state()
    state.apply(event("integrations.task_completed.v1", {"task_id": "t1"}))
    refs = {c.ref_id for c in generate(context_of(state))}
    assert "t1" not in refs
    state.apply(event("integrations.task_added.v1", {"task_id": "t1", "title": "Reply to Sam"}))
    assert "t1" not in {c.ref_id for c in generate(context_of(state))}


def test_a_tip_shown_is_not_proposed_again_within_its_cooldown():
    state = busy_day_state()
    shown = generate(context_of(state))[0]
    state.apply(
        event(
            "recommender.tip_shown.v1",
            {
                "decision_id": "00000000-0000-0000-0000-000000000001",
                "candidate_id": shown.candidate_id,
                "kind": shown.kind.value,
                "source": shown.source,
                "local_hour": 12,
            },
        )
    )
    later = {c.candidate_id for c in generate(context_of(state, NOON + timedelta(minutes=30)))}
    assert shown.candidate_id not in later
    much_later = {c.candidate_id for c in generate(context_of(state, NOON + timedelta(days=4)))}
    assert shown.candidate_id in much_later


def test_a_resting_task_makes_way_for_the_next_best_rather_than_for_nothing():
    state = busy_day_state()
    for task_id, minutes in (("t3", 5), ("t4", 15), ("t5", 20)):
        task = {"task_id": task_id, "title": task_id, "estimated_minutes": minutes}
        state.apply(event("integrations.task_added.v1", task))
    first = [c.ref_id for c in generate(context_of(state)) if c.source == "quick_win"]
    assert first == ["t1", "t3"]  # the one due tomorrow, then the shortest of the undated
    for ref in first:
        state.apply(shown(f"quick_win:{ref}", "quick_win", NOON, kind="todo"))
    later = [c.ref_id for c in generate(context_of(state, NOON + timedelta(minutes=5))) if c.source == "quick_win"]
    assert later == ["t4", "t5"]


def test_a_long_busy_block_just_ended_suggests_a_break():
    state = busy_day_state()
    state.apply(
        event(
            "integrations.busy_interval_recorded.v1",
            {"start": (NOON - timedelta(hours=2)).isoformat(), "end": (NOON - timedelta(minutes=5)).isoformat()},
        )
    )
    assert by_source(generate(context_of(state)))["break"].why == "after 2 hours of busy time"


def test_the_advice_library_is_large_and_distinct():
    assert len(ADVICE) >= 60
    assert len({a.text for a in ADVICE}) == len(ADVICE)
    assert all(len(a.text) <= 90 for a in ADVICE)


def shown(candidate_id: str, source: str, at: datetime, kind: str = "advice") -> EventEnvelope:
    return event(
        "recommender.tip_shown.v1",
        {
            "decision_id": str(uuid.uuid4()),
            "candidate_id": candidate_id,
            "kind": kind,
            "source": source,
            "local_hour": at.hour,
        },
        at,
    )


def test_first_run_the_tips_are_the_onboarding_one_step_at_a_time():
    state = state_with()
    [step] = generate(context_of(state))
    assert (step.candidate_id, step.kind, step.prompt) == ("onboarding:checkin", "checkin", "checkin")

    state.apply(event("profile.checkin_recorded.v1", {"energy": 2, "mood": 4}))
    [step] = generate(context_of(state))
    assert (step.candidate_id, step.prompt) == ("onboarding:habit", "habit")

    walk = {"habit_id": "walk", "name": "a walk", "window_start_hour": 11, "window_end_hour": 14}
    state.apply(event("profile.habit_defined.v1", walk))
    sources = {c.source for c in generate(context_of(state))}
    assert "onboarding" not in sources
    assert "habit" in sources


def test_a_step_put_off_gives_way_to_ordinary_tips_until_its_cooldown_ends():
    state = state_with(shown("onboarding:checkin", "onboarding", NOON - timedelta(minutes=30)))
    assert "onboarding" not in {c.source for c in generate(context_of(state))}
    assert [c.candidate_id for c in generate(context_of(state, NOON + timedelta(hours=2)))] == ["onboarding:checkin"]


def test_a_person_with_tasks_skips_the_onboarding():
    state = busy_day_state()
    state.apply(event("profile.habit_removed.v1", {"habit_id": "h1"}))
    assert state.habits == {}
    assert "onboarding" not in {c.source for c in generate(context_of(state))}
