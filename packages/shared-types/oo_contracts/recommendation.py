"""The recommender's contracts: what the page asks and gets, and what the ML sidecar is asked.

`POST /v1/recommend -> {decision_id, tip | null, retry_after?}` is the product's contract; the
ML contract (`/generate`, `/rank`, `/feedback`) is the same whether ML runs in process or over HTTP.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from oo_contracts.events import (
    DeviceClass,
    EventEnvelope,
    Reaction,
    ReactionReason,
    TipKind,
    iana_timezones,
    timezone_enum,
)


class TipAction(BaseModel):
    reaction: Reaction
    label: str


class TipPrompt(StrEnum):
    checkin = "checkin"
    habit = "habit"


class Tip(BaseModel):
    id: str = Field(description="The candidate's id: stable for the same suggestion, used for cooldowns.")
    kind: TipKind
    text: str
    why: str = Field(description="One line of true reasons, e.g. `due tomorrow · fits your 25-minute gap`.")
    source: str = Field(
        description="Which generator made it (a rule's name, `llm`, or `onboarding` for a first-run step)."
    )
    actions: list[TipAction]
    prompt: TipPrompt | None = Field(
        default=None,
        description="What the page offers besides the reactions: `checkin` an energy and mood scale, "
        "`habit` a way to name a habit. Answering it is a signal; the reaction is then `done`.",
    )


class RecommendRequest(BaseModel):
    """The context of the request; each field optional (the last known value is used)."""

    model_config = ConfigDict(extra="forbid")

    timezone: str | None = Field(
        default=None, description="IANA time zone of the person now.", json_schema_extra=timezone_enum
    )
    device_class: DeviceClass | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None and value not in iana_timezones():
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value


class RecommendResponse(BaseModel):
    decision_id: UUID
    tip: Tip | None = Field(description="null when silence won: nothing is worth an interruption now.")
    retry_after: int | None = Field(default=None, description="Seconds until asking again is worthwhile.")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision_id: UUID
    reaction: Reaction
    reason: ReactionReason | None = None


class QuietHours(BaseModel):
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=23)


class HabitSetting(BaseModel):
    habit_id: str
    name: str
    cadence: str
    window_start_hour: int
    window_end_hour: int
    effort: int
    strength: float = Field(description="How established the habit is, 0–1 (a forgiving moving average).")


class Settings(BaseModel):
    """What the person has set, each by an event posted to `POST /v1/events`: the time zone
    (`recommender.context_observed.v1`), quiet hours (`profile.quiet_hours_set.v1`) and habits
    (`profile.habit_defined.v1`, `profile.habit_removed.v1`)."""

    timezone: str
    quiet_hours: QuietHours | None
    habits: list[HabitSetting]


class FeedbackResponse(BaseModel):
    decision_id: UUID
    reaction: Reaction
    learned: bool = Field(description="Whether a policy learned from it (false for a first-run step).")


# ---- the ML contract ---------------------------------------------------------------------------


class TipCandidate(BaseModel):
    """One suggestion a generator proposes, with the features the policy scores it by."""

    candidate_id: str
    kind: TipKind
    text: str
    why: str
    source: str
    ref_id: str | None = Field(default=None, description="The task or habit it is about, if any.")
    features: dict[str, float]
    prompt: TipPrompt | None = None


class UserContext(BaseModel):
    """What generators and the policy may read about a person now (no raw history)."""

    user_id: str
    features: dict[str, float]
    facts: dict[str, Any] = Field(description="Structured, tip-relevant facts: open tasks, habits, next busy block.")


class GenerateRequest(BaseModel):
    context: UserContext
    recently_shown: dict[str, float] = Field(
        default_factory=dict, description="candidate id → hours since it was last shown (for cooldowns)."
    )
    cached_llm: list[TipCandidate] = Field(
        default_factory=list,
        description="LLM candidates generated earlier in the background; merged with the rules' "
        "unless stale, recently shown or near-duplicates.",
    )
    avoid: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Texts of tips the person recently dismissed: new LLM tips too close to one are dropped.",
    )
    llm: bool = Field(
        default=False,
        description="Ask the tip-generator (background refreshes only, never the request path); the "
        "caller sets it only when the person's LLM processing is allowed.",
    )


class GenerateResponse(BaseModel):
    candidates: list[TipCandidate]
    llm: str = Field(
        default="off",
        description="`off` (rules only), `ok` (the candidates are the LLM's, validated), or "
        "`fallback:<reason>` (the LLM failed — timeout, error, invalid_json, nothing_valid — and "
        "these are the rules' candidates).",
    )


class RankRequest(BaseModel):
    context: UserContext
    candidates: list[TipCandidate]
    policy_state: dict[str, Any] | None = Field(default=None, description="The user's policy state; none: the prior.")
    seed: int | None = None


class RankResponse(BaseModel):
    chosen: str | None = Field(description="The chosen candidate's id; null for silence.")
    propensity: float = Field(gt=0, le=1)
    policy_version: str
    shadow: dict[str, str | None] = Field(default_factory=dict, description="Shadow policies' choices.")


class FeedbackUpdate(BaseModel):
    context: UserContext
    candidate: TipCandidate
    reward: float
    policy_state: dict[str, Any] | None = None


class PolicyStateResponse(BaseModel):
    policy_state: dict[str, Any]


class MlPort(Protocol):
    """The recommender's one way to ML: in process by default, over HTTP when OO_ML_URL is set."""

    async def generate(self, request: GenerateRequest) -> GenerateResponse: ...

    async def rank(self, request: RankRequest) -> RankResponse: ...

    async def feedback(self, request: FeedbackUpdate) -> PolicyStateResponse: ...


class FeatureModel(Protocol):
    """Turns a user's events into feature state, and state into context (ml/features, injected)."""

    def initial_state(self) -> dict[str, Any]: ...

    def apply(self, state: dict[str, Any], events: list[EventEnvelope]) -> dict[str, Any]: ...

    def context(self, user_id: str, state: dict[str, Any], now: datetime) -> UserContext: ...


# Decisions no policy made (their reactions teach no policy): first-run steps, and quiet hours.
ONBOARDING_POLICY_VERSION = "onboarding-v1"
QUIET_HOURS_POLICY_VERSION = "quiet-hours-v1"

REWARDS: dict[Reaction, float] = {Reaction.done: 1.0, Reaction.later: 0.3, Reaction.dismiss: -0.3}


_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset(
    {"a", "an", "the", "to", "of", "for", "and", "or", "in", "on", "at", "it", "is", "be", "your", "you"}
    | {"this", "that", "with", "while", "now"}
)


def text_fingerprint(text: str) -> list[str]:
    """A tip's content words, each hashed: enough to tell near-duplicates apart (word overlap), not
    enough to read the text back. Dismissed tips are remembered by this, never by their words."""
    words = {w for w in _WORD.findall(text.lower()) if w not in _STOP}
    return sorted(hashlib.sha256(w.encode()).hexdigest()[:10] for w in words)
