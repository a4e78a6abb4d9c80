"""What oO knows about a person, in plain words, and how each fact can go (ADR 0026).

`GET /v1/me/knowledge` answers `Knowledge`; the feature model answers `RecordedFacts` (what the feature
state holds), and ML answers `LearnedResponse` (what the policy learned, in sentences the record bears
out). The sentences' grammar is closed: `ml/experiments/learned_truth.py` re-derives each one's claim
from the decision log.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from oo_contracts.events import TipKind
from oo_contracts.recommendation import HabitFacts, OpaqueState, QuietHours

DayQuarter = Literal["night", "morning", "afternoon", "evening"]
LearnedVerdict = Literal["done", "later", "dismiss"]


class Removal(StrEnum):
    """How a fact can go."""

    delete = "delete"  # DELETE /v1/me/knowledge/{id}
    forget_learning = "forget_learning"  # POST /v1/me/knowledge/forget-learning: every learned sentence at once
    change_setting = "change_setting"  # a setting or an answer: changed where it is set, never deleted here
    with_connection = "with_connection"  # a provider's task: goes when the provider is disconnected


class KnowledgeItem(BaseModel):
    id: str = Field(
        description="Stable for the fact: `habit:<id>`, `task:<id>`, `checkin:<id>`, `connection:<provider>`…"
    )
    text: str = Field(description="The fact in plain words.")
    removal: Removal
    how: str = Field(description="In words, how this fact can go.")


class Knowledge(BaseModel):
    """Every fact oO holds about the caller, grouped; and what the policy learned from their reactions."""

    connections: list[KnowledgeItem]
    tasks: list[KnowledgeItem] = Field(description="Own tasks with their titles; a provider's by count only.")
    habits: list[KnowledgeItem]
    checkins: list[KnowledgeItem] = Field(description="The latest check-ins, newest first.")
    consents: list[KnowledgeItem]
    settings: list[KnowledgeItem] = Field(description="Time zone and quiet hours.")
    learned: list[KnowledgeItem] = Field(
        description="What the policy learned, each sentence borne out by the caller's own reactions since "
        "they last asked oO to forget (ADR 0026)."
    )


# ---- between the recommender, the feature model and ML ----------------------------------------


class KnownTask(BaseModel):
    task_id: str
    title: str | None = Field(description="An own task's title; null for a provider's (never stored, ADR 0023).")
    provider: str | None = None


class KnownCheckin(BaseModel):
    checkin_id: str
    at: AwareDatetime
    energy: int | None = None
    mood: int | None = None


class ReactionCount(BaseModel):
    """Reactions to tips of one source shown at one local hour, since learning was last forgotten."""

    source: str
    kind: TipKind
    local_hour: int = Field(ge=0, le=23)
    done: int = Field(default=0, ge=0)
    later: int = Field(default=0, ge=0)
    dismiss: int = Field(default=0, ge=0)


class RecordedFacts(BaseModel):
    """What the feature state holds of a person, typed: the feature model's answer."""

    tasks: list[KnownTask]
    habits: list[HabitFacts]
    checkins: list[KnownCheckin] = Field(description="Newest first.")
    timezone: str | None
    quiet_hours: QuietHours | None
    reactions: list[ReactionCount]
    dismiss_rates: dict[TipKind, float] = Field(
        default_factory=dict, description="Each kind's recent share of Not for me, as the policy reads it."
    )
    done_rates: list[float] = Field(
        default_factory=lambda: [0.5] * 24,
        description="Each local hour's share of tips done (smoothed; 0.5 with no record), as the policy reads it.",
    )
    learning_since: AwareDatetime | None = Field(description="When the person last asked oO to forget; null: never.")


class LearnedRequest(BaseModel):
    policy_state: OpaqueState | None = Field(description="The person's policy state; none: the prior, nothing learned.")
    reactions: list[ReactionCount]
    dismiss_rates: dict[TipKind, float] = Field(default_factory=dict)
    done_rates: list[float] = Field(default_factory=lambda: [0.5] * 24, min_length=24, max_length=24)


class LearnedSentence(BaseModel):
    id: str = Field(description="`learned:<verdict>:<source>:<part or all>`.")
    text: str
    source: str
    part: DayQuarter | None = None
    verdict: LearnedVerdict
    reactions: int = Field(description="The reactions it rests on.")
    shift: float = Field(description="How far the policy's expected value moved from the prior, in reward units.")


class LearnedResponse(BaseModel):
    sentences: list[LearnedSentence]
