"""Every "what oO learned" sentence is true of the person's recorded reactions (ADR 0026).

Histories are generated: tips of several kinds shown at any hour, reacted to any way, now and then
"forget what you learned". Each reaction goes through the real feature code (the counts the writer
reads), the product's policy (the posterior it reads) and a decision-log row (what the independent
checker reads). No sentence may be untrue; and a kind of tip acted on (or turned down) again and again
in one part of the day gets its sentence.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml.experiments.featurize import KNOWN_SOURCES
from ml.experiments.learned import learned_sentences
from ml.experiments.learned_truth import reactions_from_decisions, untrue_learned
from ml.experiments.policy import PolicyState
from ml.experiments.product import PRODUCT_POLICY
from ml.features.model import IncrementalFeatures
from ml.features.state import FeatureState
from oo_contracts.events import Reaction, TipKind
from oo_contracts.knowledge import LearnedRequest, LearnedSentence
from oo_contracts.recommendation import REWARDS, TipCandidate
from tests.ml_factory import context_of, event

START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
SOURCES = ("quick_win", "advice", "habit", "task", "break")
REACTIONS = ("done", "later", "dismiss")


@dataclass
class Person:
    """One person's record, kept the three ways the product keeps it."""

    state: FeatureState = field(default_factory=FeatureState)
    policy: PolicyState = field(default_factory=PRODUCT_POLICY.initial_state)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    day: int = 0

    def react(self, source: str, hour: int, reaction: str, features: dict[str, float]) -> None:
        at = START + timedelta(days=self.day, hours=hour)
        self.day += 1
        kind = TipKind.advice if source in ("advice", "break") else TipKind.todo
        candidate = TipCandidate(
            candidate_id=f"{source}:{self.day % 3}", kind=kind, text="a tip", why="", source=source, features=features
        )
        context = context_of(self.state, at)
        self.policy = PRODUCT_POLICY.update(self.policy, context, candidate, REWARDS[Reaction(reaction)])
        decision_id = str(uuid.uuid4())
        common = {"decision_id": decision_id, "candidate_id": candidate.candidate_id, "kind": kind, "source": source}
        self.state.apply(event("recommender.tip_shown.v1", {**common, "local_hour": hour}, at))
        self.state.apply(event("recommender.tip_reacted.v1", {**common, "local_hour": hour, "reaction": reaction}, at))
        self.decisions.append(
            {
                "candidates": [candidate.model_dump(mode="json")],
                "chosen": candidate.candidate_id,
                "context": context.model_dump(mode="json"),
                "reaction": reaction,
                "reacted_at": at,
            }
        )

    def forget(self) -> None:
        at = START + timedelta(days=self.day, hours=23, minutes=59)
        self.day += 1  # the reactions after it come after it
        self.state.apply(event("recommender.learning_forgotten.v1", {}, at))
        self.policy = PRODUCT_POLICY.initial_state()

    def sentences(self) -> list[LearnedSentence]:
        recorded = IncrementalFeatures().recorded(self.state.model_dump(mode="json"), START + timedelta(days=400))
        request = LearnedRequest(
            policy_state=self.policy,
            reactions=recorded.reactions,
            dismiss_rates=recorded.dismiss_rates,
            done_rates=recorded.done_rates,
        )
        return learned_sentences(PRODUCT_POLICY, request)

    def untrue(self) -> list[str]:
        since = self.state.learning_since
        return untrue_learned([s.text for s in self.sentences()], reactions_from_decisions(self.decisions), since)


features = st.fixed_dictionaries(
    {name: st.floats(0, 1) for name in ("fits_gap", "urgency", "importance", "effort", "novelty", "affinity")}
)
step = st.one_of(
    st.tuples(st.sampled_from(SOURCES), st.integers(0, 23), st.sampled_from(REACTIONS), features),
    st.just("forget"),
)
# Habits of a person: a few (kind, hour, usual reaction) they keep to most of the time.
habitual = st.tuples(st.sampled_from(SOURCES), st.integers(0, 23), st.sampled_from(REACTIONS))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    habits=st.lists(habitual, min_size=1, max_size=3),
    steps=st.lists(st.tuples(st.integers(0, 9), step), min_size=5, max_size=70),
)
def test_no_learned_sentence_is_untrue(habits, steps) -> None:
    person = Person()
    for pick, move in steps:
        if move == "forget":
            person.forget()
        elif pick < 6:  # mostly the person's habits, so that sentences come up; otherwise anything
            source, hour, reaction = habits[pick % len(habits)]
            person.react(source, hour, reaction, move[3])
        else:
            person.react(*move)
    assert person.untrue() == []


# A plain tip (its own numbers say little for it): what the prior expects of it is the kind's level.
plain = st.fixed_dictionaries({name: st.floats(0, 0.2) for name in ("fits_gap", "urgency", "importance", "novelty")})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(SOURCES),
    hour=st.integers(0, 23),
    verdict=st.sampled_from(["done", "dismiss"]),
    times=st.integers(12, 20),
    noise=st.lists(st.tuples(st.sampled_from(SOURCES), st.integers(0, 23), st.sampled_from(REACTIONS), features)),
    features=plain,
)
def test_a_clear_record_gets_its_sentence(source, hour, verdict, times, noise, features) -> None:
    """A plain tip of one kind acted on (or turned down) a dozen times or more, among others' reactions:
    the policy moved well away from the prior, and the sentence is said. (A break after a long block is
    acted on already in the prior's eyes: acting on it teaches nothing new, and nothing is said.)"""
    if source == "break" and verdict == "done":
        source = "advice"
    person = Person()
    others = [n for n in noise if n[0] != source][: times // 2]
    for i in range(times):
        person.react(source, hour, verdict, features)
        if i < len(others):
            person.react(*others[i])
    said = person.sentences()
    assert any(s.source == source and s.verdict == verdict for s in said), [s.text for s in said]
    assert person.untrue() == []


def test_forgetting_empties_what_was_learned() -> None:
    person = Person()
    for _ in range(10):
        person.react("quick_win", 8, "done", {"fits_gap": 1.0})
    assert [s.text for s in person.sentences()] == ["You tend to act on quick wins"]
    person.forget()
    assert person.sentences() == []
    assert person.state.affinity == {}
    assert person.state.reactions == {}
    for _ in range(6):
        person.react("advice", 19, "dismiss", {})
    assert [s.text for s in person.sentences()] == ["You tend to say Not for me to advice"]
    assert person.untrue() == []


def test_the_checker_refuses_what_the_record_does_not_bear() -> None:
    person = Person()
    for _ in range(4):
        person.react("advice", 19, "later", {})
    reactions = reactions_from_decisions(person.decisions)
    assert untrue_learned(["You tend to say Later to advice in the evening"], reactions, None) != []
    person.react("advice", 20, "later", {})
    reactions = reactions_from_decisions(person.decisions)
    assert untrue_learned(["You tend to say Later to advice in the evening"], reactions, None) == []
    assert untrue_learned(["You tend to say Later to advice in the morning"], reactions, None) != []
    assert untrue_learned(["You tend to act on advice in the evening"], reactions, None) != []
    assert untrue_learned(["You love advice"], reactions, None) != []


def test_every_known_source_has_words() -> None:
    from ml.experiments.learned import PHRASES
    from ml.experiments.learned_truth import KINDS

    assert set(PHRASES) == set(KNOWN_SOURCES)
    assert {KINDS[phrase] for phrase in PHRASES.values()} == set(KNOWN_SOURCES)
