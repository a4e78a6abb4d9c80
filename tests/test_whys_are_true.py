"""Every clause of every rule's why is true: an independent checker re-derives each from the state.

Property test over generated people and moments (hypothesis): tasks of their own or read from
Todoist, due on a day or at a moment, past and future, with and without estimates; habits with and
without a record; check-ins of energy, mood or both, fresh or stale; calendars or none; time zones
east and west; any hour of the day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml.experiments.truth import untrue_clauses
from ml.features.state import FeatureState
from ml.serving.llm_validation import LlmTip, problem_with, to_candidate
from ml.serving.rules import generate
from tests.ml_factory import context_of, event

START = datetime(2026, 3, 1, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Auckland", "America/St_Johns"]


@st.composite
def people(draw: st.DrawFn) -> tuple[FeatureState, datetime]:
    now = START + timedelta(minutes=draw(st.integers(0, 60 * 24 * 300)))
    state = FeatureState()
    state.apply(event("profile.timezone_set.v1", {"timezone": draw(st.sampled_from(ZONES))}, now - timedelta(days=30)))
    for n in range(draw(st.integers(0, 6))):
        task: dict[str, object] = {"task_id": f"t{n}", "title": f"Task {n}", "priority": draw(st.integers(1, 4))}
        if draw(st.booleans()):
            task["estimated_minutes"] = draw(st.integers(1, 180))
        due = draw(st.sampled_from(["none", "moment", "day"]))
        if due == "moment":
            task["due"] = (now + timedelta(minutes=draw(st.integers(-60 * 24 * 9, 60 * 24 * 9)))).isoformat()
        if due == "day":
            task["due_date"] = (now.date() + timedelta(days=draw(st.integers(-9, 9)))).isoformat()
        if draw(st.booleans()):  # a task of the person's own, or one read from Todoist (no title kept)
            state.apply(event("integrations.task_added.v2", task, now - timedelta(days=10)))
        else:
            synced = {key: value for key, value in task.items() if key != "title"}
            synced.update(provider="todoist", task_id=f"todoist:t{n}", recurring=draw(st.booleans()))
            state.apply(event("integrations.task_synced.v1", synced, now - timedelta(days=10)))
    for n in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, 22))
        habit = {
            "habit_id": f"h{n}",
            "name": f"habit {n}",
            "window_start_hour": start,
            "window_end_hour": draw(st.integers(start + 1, 24)),
            "duration_minutes": draw(st.none() | st.integers(1, 60)),
        }
        state.apply(event("profile.habit_defined.v2", habit, now - timedelta(days=20)))
        for days_ago in draw(st.sets(st.integers(0, 12), max_size=8)):
            state.apply(event("profile.habit_done.v1", {"habit_id": f"h{n}"}, now - timedelta(days=days_ago, hours=1)))
    if draw(st.booleans()):
        checkin = draw(
            st.sampled_from([{"energy": 1}, {"mood": 5}, {"energy": 4, "mood": 2}, {"energy": 5, "mood": 4}])
        )
        state.apply(event("profile.checkin_recorded.v2", checkin, now - timedelta(minutes=draw(st.integers(0, 900)))))
    for _ in range(draw(st.integers(0, 3))):
        begins = now + timedelta(minutes=draw(st.integers(-200, 400)))
        ends = begins + timedelta(minutes=draw(st.integers(15, 180)))
        state.apply(
            event(
                "integrations.busy_interval_recorded.v1",
                {"start": begins.isoformat(), "end": ends.isoformat()},
                now - timedelta(hours=6),
            )
        )
    return state, now


@given(people())
@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_clause_of_every_rule_why_is_true_of_the_state(person: tuple[FeatureState, datetime]) -> None:
    state, now = person
    for candidate in generate(context_of(state, now)):
        assert untrue_clauses(candidate.why, state, now, candidate.ref_id) == [], (candidate, now)


LLM_TEXTS = [
    "Reply now, two lines is enough.",
    "Take a short walk.",
    "Drink some water this evening.",
    "Use your 25-minute gap.",
    "Start while your energy is high.",
    "Due tomorrow: start it.",
]
LLM_WHYS = ["due tomorrow", "a small reset", "kept up 30% lately", "fits your 24-minute gap", "about 10 min"]


@given(
    people(), st.lists(st.tuples(st.sampled_from(LLM_TEXTS), st.sampled_from(LLM_WHYS), st.integers(0, 9)), max_size=5)
)
@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_llm_tip_that_reaches_a_person_has_a_true_why(person, answers) -> None:
    state, now = person
    ctx = context_of(state, now)
    refs = [None, *state.tasks, *state.habits, "t-unknown"]
    for text, why, pick in answers:
        ref = refs[pick % len(refs)]
        tip = LlmTip(kind="advice" if ref is None else "todo", text=text, why=why, ref_id=ref)
        if problem_with(tip, ctx) is None:
            candidate = to_candidate(tip, ctx)
            assert untrue_clauses(candidate.why, state, now, candidate.ref_id) == [], (candidate, now)


def test_the_checker_rejects_what_the_record_does_not_bear_out() -> None:
    now = datetime(2026, 3, 2, 23, 40, tzinfo=UTC)
    state = FeatureState()
    state.apply(
        event(
            "profile.habit_defined.v2",
            {"habit_id": "h", "name": "walk", "window_start_hour": 7, "window_end_hour": 9},
            now - timedelta(days=1),
        )
    )
    state.apply(
        event(
            "integrations.task_added.v2",
            {"task_id": "t", "title": "T", "estimated_minutes": 25, "due_date": date(2026, 2, 18).isoformat()},
            now,
        )
    )
    assert untrue_clauses("kept up 30% lately", state, now, "h") == ["kept up 30% lately"]
    assert untrue_clauses("done 1 of the last 7 days", state, now, "h") == ["done 1 of the last 7 days"]
    assert untrue_clauses("fits your 240-minute gap", state, now, "t") == ["fits your 240-minute gap"]
    assert untrue_clauses("midday", state, now, None) == ["midday"]
    assert untrue_clauses("due 12 days ago · about 25 minutes", state, now, "t") == []
    assert untrue_clauses("due 11 days ago", state, now, "t") == ["due 11 days ago"]
    assert untrue_clauses("you said your energy is high", state, now, "t") == ["you said your energy is high"]
    assert untrue_clauses("late evening", state, now, None) == []
