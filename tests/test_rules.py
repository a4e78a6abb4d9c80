"""Rule candidates: one per task with every rule's reason, true whys, the moment decides, cooldowns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ml.serving.advice_library import ADVICE
from ml.serving.rules import generate
from oo_contracts.events import EventEnvelope
from tests.ml_factory import NOON, busy_day_state, context_of, event, state_with


def by_ref(candidates):
    return {c.ref_id: c for c in candidates if c.ref_id}


def by_source(candidates):
    return {c.source: c for c in candidates}


def test_a_busy_day_yields_one_candidate_per_task_with_every_reason_merged():
    candidates = generate(context_of(busy_day_state()))
    refs = [c.ref_id for c in candidates if c.ref_id]
    assert len(refs) == len(set(refs))  # no task twice
    sam = by_ref(candidates)["t1"]
    assert sam.candidate_id == "task:t1"
    assert sam.source == "energy_match"
    assert sam.reasons == ["energy_match", "quick_win", "task"]
    assert sam.text == "Use the energy: Reply to Sam"
    assert sam.why == "due tomorrow · you said your energy is high · fits your 25-minute gap"
    passport = by_ref(candidates)["t2"]
    assert passport.source == "amnesty"
    assert passport.why == "due 5 days ago"
    assert not any(word in passport.text.lower() for word in ("overdue", "late", "failed", "should have"))
    walk = by_ref(candidates)["h1"]
    assert walk.why == "in your 11:00–14:00 window · new, not done yet"


def test_a_habit_says_its_record_only_once_it_has_one():
    state = busy_day_state()
    for days_ago in (1, 2, 4):
        state.apply(event("profile.habit_done.v1", {"habit_id": "h1"}, NOON - timedelta(days=days_ago)))
    assert by_ref(generate(context_of(state)))["h1"].why == "in your 11:00–14:00 window · done 3 of the last 7 days"


def test_nothing_is_proposed_for_a_task_already_done():
    state = busy_day_state()
    state.apply(event("integrations.task_completed.v1", {"task_id": "t1"}))
    assert "t1" not in by_ref(generate(context_of(state)))
    state.apply(event("integrations.task_added.v1", {"task_id": "t1", "title": "Reply to Sam"}))
    assert "t1" not in by_ref(generate(context_of(state)))


def test_nothing_interrupts_a_busy_block():
    state = busy_day_state()
    assert generate(context_of(state, NOON + timedelta(minutes=30))) == []


def test_late_at_night_on_low_energy_no_task_is_proposed_and_advice_is_rest():
    state = busy_day_state()
    night = datetime(2026, 11, 25, 23, 40, tzinfo=UTC)
    state.apply(event("profile.checkin_recorded.v2", {"energy": 1}, night - timedelta(minutes=10)))
    state.apply(
        event("integrations.task_added.v2", {"task_id": "plan", "title": "Plan the week", "estimated_minutes": 20})
    )
    candidates = generate(context_of(state, night))
    assert [c for c in candidates if c.kind == "todo"] == []
    assert [c.why for c in candidates] == ["late evening · you said your energy is low"]


def test_with_high_energy_an_important_task_due_soon_keeps_trivial_distant_ones_out():
    state = state_with(
        event("profile.checkin_recorded.v2", {"energy": 5}),
        event(
            "integrations.task_added.v2",
            {
                "task_id": "deck",
                "title": "Finish the deck",
                "priority": 4,
                "estimated_minutes": 90,
                "due_date": "2026-11-26",
            },
        ),
        event(
            "integrations.task_added.v2",
            {
                "task_id": "socks",
                "title": "Sort socks",
                "priority": 1,
                "estimated_minutes": 10,
                "due_date": "2026-12-01",
            },
        ),
    )
    candidates = by_ref(generate(context_of(state)))
    assert list(candidates) == ["deck"]
    assert candidates["deck"].why == "due tomorrow · you said your energy is high · about 90 minutes"


def test_an_all_day_due_is_due_on_the_persons_own_day():
    state = state_with(
        event("profile.timezone_set.v1", {"timezone": "Pacific/Auckland"}),
        event(
            "integrations.task_added.v2",
            {"task_id": "rent", "title": "Pay rent", "priority": 3, "due_date": "2026-11-26"},
        ),
    )
    # 20:00 UTC on the 25th is 09:00 on the 26th in Auckland: due today there, not tomorrow.
    [rent] = [c for c in generate(context_of(state, datetime(2026, 11, 25, 20, tzinfo=UTC))) if c.ref_id == "rent"]
    assert rent.why.startswith("due today")


def test_no_gap_is_claimed_without_a_calendar():
    state = state_with(
        event("profile.checkin_recorded.v2", {"mood": 3}),
        event("integrations.task_added.v2", {"task_id": "call", "title": "Call mum", "estimated_minutes": 10}),
    )
    [call] = [c for c in generate(context_of(state)) if c.ref_id == "call"]
    assert call.why == "about 10 minutes"


def test_a_tip_shown_is_not_proposed_again_within_its_cooldown():
    state = busy_day_state()
    first = generate(context_of(state))[0]
    state.apply(shown(first.candidate_id, first.source, NOON, kind=first.kind.value))
    assert first.candidate_id not in {c.candidate_id for c in generate(context_of(state, NOON + timedelta(minutes=5)))}
    much_later = {c.candidate_id for c in generate(context_of(state, NOON + timedelta(days=3)))}
    assert first.candidate_id in much_later


def test_a_resting_task_makes_way_for_the_next_best_rather_than_for_nothing():
    state = state_with(event("profile.checkin_recorded.v2", {"mood": 3}))
    for task_id, minutes in (("a", 5), ("b", 10), ("c", 12), ("d", 14), ("e", 15)):
        state.apply(
            event("integrations.task_added.v1", {"task_id": task_id, "title": task_id, "estimated_minutes": minutes})
        )
    first = [c.ref_id for c in generate(context_of(state)) if c.ref_id]
    assert first == ["a", "b", "c", "d"]
    for ref in first:
        state.apply(shown(f"task:{ref}", "quick_win", NOON, kind="todo"))
    assert [c.ref_id for c in generate(context_of(state, NOON + timedelta(minutes=5))) if c.ref_id] == ["e"]


def test_a_long_busy_block_just_ended_suggests_a_break():
    state = busy_day_state()
    state.apply(
        event(
            "integrations.busy_interval_recorded.v1",
            {"start": (NOON - timedelta(hours=2)).isoformat(), "end": (NOON - timedelta(minutes=5)).isoformat()},
        )
    )
    assert by_source(generate(context_of(state)))["break"].why == "after 1 hour 55 minutes busy"


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
    assert (step.candidate_id, step.prompt) == ("onboarding:tasks", "tasks")

    # Any answer, "not now" included, ends the step for good: no cooldown brings it back.
    state.apply(event("profile.first_run_answered.v1", {"step": "tasks", "answer": "not_now"}))
    [step] = generate(context_of(state))
    assert (step.candidate_id, step.prompt) == ("onboarding:habit", "habit")
    [step] = generate(context_of(state, NOON + timedelta(days=30)))
    assert step.candidate_id == "onboarding:habit"

    walk = {"habit_id": "walk", "name": "a walk", "window_start_hour": 11, "window_end_hour": 14}
    state.apply(event("profile.habit_defined.v1", walk))
    sources = {c.source for c in generate(context_of(state))}
    assert "onboarding" not in sources
    assert "habit" in sources


def test_a_step_put_off_gives_way_to_ordinary_tips_until_its_cooldown_ends():
    state = state_with(shown("onboarding:checkin", "onboarding", NOON - timedelta(minutes=30)))
    assert "onboarding" not in {c.source for c in generate(context_of(state))}
    assert [c.candidate_id for c in generate(context_of(state, NOON + timedelta(hours=2)))] == ["onboarding:checkin"]


def test_later_on_the_first_check_in_brings_no_second_check_in_in_other_words():
    state = state_with(shown("onboarding:checkin", "onboarding", NOON - timedelta(minutes=30)))
    assert all(c.kind != "checkin" for c in generate(context_of(state)))


def test_a_person_with_tasks_skips_the_onboarding():
    state = busy_day_state()
    state.apply(event("profile.habit_removed.v1", {"habit_id": "h1"}))
    assert state.habits == {}
    assert "onboarding" not in {c.source for c in generate(context_of(state))}
