"""The recommender's contracts: what the page asks and gets, and what the ML sidecar is asked.

`POST /v1/recommend -> {decision_id, tip | null, retry_after?}` is the product's contract; the
ML contract (`/generate`, `/rank`, `/feedback`) is the same whether ML runs in process or over HTTP.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, JsonValue
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from oo_contracts.consents import ConsentPurpose
from oo_contracts.events import (
    ContextObserved,
    DeviceClass,
    EventEnvelope,
    IanaZone,
    Reaction,
    ReactionReason,
    TipKind,
)

if TYPE_CHECKING:  # the knowledge contracts build on this module's models
    from oo_contracts.knowledge import LearnedRequest, LearnedResponse, RecordedFacts


class TipAction(BaseModel):
    reaction: Reaction
    label: str


class TipPrompt(StrEnum):
    checkin = "checkin"
    habit = "habit"
    tasks = "tasks"


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
        "`habit` a way to name a habit, `tasks` connecting one's tasks or adding one (or not now, answered by "
        "`profile.first_run_answered.v1`). Answering it is a signal; the reaction is then `done`.",
    )


def _not_null(value: object) -> object:
    if value is None:
        raise PydanticCustomError(
            "null_context", "must not be null: leave the field out to keep the last known value, which is never cleared"
        )
    return value


def _without_null_defaults(schema: dict[str, Any]) -> None:
    # The None default stands for "left out", not for a null a client may send.
    for field in schema.get("properties", {}).values():
        if field.get("default", ...) is None:
            del field["default"]


# A context field left out keeps its last known value. Null would read as "forget it", which oO never
# does (a known zone is only replaced by another): refused, so that no client believes it cleared one.
# Python callers leave a field out by leaving it None; the schema shows no null.
ContextZone = Annotated[IanaZone | SkipJsonSchema[None], BeforeValidator(_not_null)]
ContextDevice = Annotated[DeviceClass | SkipJsonSchema[None], BeforeValidator(_not_null)]


class RecommendRequest(BaseModel):
    """The context of the request. Each field may be left out, and then the last known value is used;
    null is refused (422), as a known context is replaced, never cleared."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_without_null_defaults)

    timezone: ContextZone = Field(
        default=None,
        description="IANA time zone of this device. Recorded as the person's zone only while they have none; "
        "their zone changes with `profile.timezone_set.v1`. Leave it out to keep the last known; null is "
        "refused (422).",
    )
    device_class: ContextDevice = Field(
        default=None, description="What this device is. Leave it out to keep the last known; null is refused (422)."
    )


class Silence(StrEnum):
    quiet_hours = "quiet_hours"  # the person's own quiet hours
    not_now = "not_now"  # the policy judged nothing worth an interruption now
    nothing_to_suggest = "nothing_to_suggest"  # no candidate at all


class RecommendResponse(BaseModel):
    decision_id: UUID
    tip: Tip | None = Field(description="null when silence won: nothing is worth an interruption now.")
    silence: Silence | None = Field(
        default=None,
        description="Why nothing is shown (null when a tip is): `quiet_hours`, `not_now` (nothing is worth an "
        "interruption now) or `nothing_to_suggest`. A silent answer holds like a tip: asking again before "
        "`retry_after` ends gives the same decision, until a new signal arrives.",
    )
    retry_after: int | None = Field(default=None, description="Seconds until asking again is worthwhile.")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision_id: UUID
    reaction: Reaction
    reason: ReactionReason | None = None


class QuietHours(BaseModel):
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=23)


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
    reasons: list[str] = Field(
        default_factory=list,
        description="Every rule whose reason this candidate carries (one candidate per task: the reasons "
        "of several rules are merged into it).",
    )


DayPart = Literal["early morning", "morning", "midday", "afternoon", "evening", "late evening", "night"]


class TaskFacts(BaseModel):
    """An open task as generators and the policy see it at a moment."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    title: str = Field(
        description="The task's title; for a provider's task, only its slot (`⟦task_id⟧`): its text is never "
        "kept, and the answer to the person is rendered with it on demand (ADR 0023)."
    )
    due_at: AwareDatetime | None = Field(default=None, description="Due at this moment (a timed due).")
    due_date: date | None = Field(default=None, description="The person's local day it is due on (any due).")
    due_in_hours: float | None = Field(
        default=None, description="Hours until it is due: the moment, or the end of its day for an all-day due."
    )
    due_in_days: int | None = Field(default=None, description="Local calendar days: 0 today, 1 tomorrow, −2 two ago.")
    estimated_minutes: int | None = None
    priority: int = 1


class HabitSetting(BaseModel):
    habit_id: str
    name: str
    cadence: str
    window_start_hour: int
    window_end_hour: int
    effort: int
    duration_minutes: int | None = None
    done_count: int = Field(description="Completions recorded.")
    strength: float | None = Field(
        description="How established the habit is, 0–1 (a forgiving moving average); null until first done."
    )
    # The sheet's "Done today" reads it back, so a second device agrees on what today already holds.
    done_today: bool = Field(default=False, description="Done on the person's own today (the account's zone).")


class HabitFacts(HabitSetting):
    """A habit the person keeps, and what their record of it bears out at a moment."""

    model_config = ConfigDict(frozen=True)

    done_today: bool
    done_in_last_7_days: int = Field(default=0, description="Of the seven days before today, those it was done on.")
    days_since_done: int | None = None


class Settings(BaseModel):
    """What the person has set, each by an event posted to `POST /v1/events`: the time zone
    (`profile.timezone_set.v1`; until then the first device's), quiet hours (`profile.quiet_hours_set.v1`) and habits
    (`profile.habit_defined.v2`, `profile.habit_removed.v1`)."""

    timezone: str
    quiet_hours: QuietHours | None
    habits: list[HabitSetting]


class UserFacts(BaseModel):
    """What is known about a person now, typed: the generators write tips from these and nothing else."""

    model_config = ConfigDict(frozen=True)

    local_time: datetime = Field(description="The person's wall clock now, with their offset.")
    timezone: str
    day_part: DayPart
    weekday: str
    weekend: bool
    device_class: str = "phone"
    llm_processing: bool | None = None
    quiet_hours: QuietHours | None = None
    calendar_known: bool = Field(description="Whether any busy time was ever recorded for the person.")
    busy_now: bool = False
    minutes_to_next_busy: int | None = Field(
        default=None, description="Whole minutes until the next busy block; none without one ahead."
    )
    ended_block_minutes: int = Field(default=0, description="Length of a busy block that ended in the last 20 min.")
    energy: int | None = Field(default=None, description="Energy from a check-in within the last hours (1–5).")
    mood: int | None = Field(default=None, description="Mood from a check-in within the last hours (1–5).")
    ever_checked_in: bool = False
    first_run_answered: list[str] = Field(
        default_factory=list, description="The first-run steps the person answered (`tasks`): never offered again."
    )
    tasks: list[TaskFacts] = Field(default_factory=list)
    habits: list[HabitFacts] = Field(default_factory=list)
    dismissed_fingerprints: list[list[str]] = Field(default_factory=list)
    hours_since_shown: dict[str, float] = Field(default_factory=dict)
    affinity: dict[str, float] = Field(
        default_factory=dict, description="Candidate id → the average reward of the person's reactions to it."
    )


class ContextFeatures(BaseModel):
    """The numbers the policy scores a moment by (candidate-independent)."""

    model_config = ConfigDict(frozen=True)

    local_hour: float = Field(default=12.0, description="Local hour with its minutes, 0 ≤ h < 24.")
    weekend: float = 0.0
    busy_now: float = 0.0
    free_minutes: float = 240.0
    energy: float | None = None
    mood: float | None = None
    open_task_count: float = 0.0
    overdue_count: float = 0.0
    due_today_count: float = 0.0
    habit_count: float = 0.0
    hours_since_checkin: float = 99.0
    minutes_since_last_tip: float = 1440.0
    tips_last_3h: float = Field(default=0.0, description="Tips shown in the last three hours (fatigue).")
    completion_rate_this_hour: float = 0.5
    dismiss_rate_todo: float = 0.0
    dismiss_rate_advice: float = 0.0
    dismiss_rate_checkin: float = 0.0
    quiet_minutes_left: float = 0.0

    def dismiss_rate(self, kind: TipKind) -> float:
        return {
            TipKind.todo: self.dismiss_rate_todo,
            TipKind.advice: self.dismiss_rate_advice,
            TipKind.checkin: self.dismiss_rate_checkin,
        }[kind]


OpaqueState = dict[str, JsonValue]
"""A JSON document only its owner reads (the feature model's state, a policy's): stored and handed back."""


class UserContext(BaseModel):
    """What generators and the policy may read about a person now (no raw history)."""

    user_id: str
    features: ContextFeatures
    facts: UserFacts


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
    policy_state: OpaqueState | None = Field(default=None, description="The user's policy state; none: the prior.")
    seed: int | None = None


class RankResponse(BaseModel):
    chosen: str | None = Field(description="The chosen candidate's id; null for silence.")
    propensity: float = Field(gt=0, le=1)
    policy_version: str
    shadow: dict[str, str | None] = Field(default_factory=dict, description="Shadow policies' choices.")
    effects: dict[str, float] = Field(
        default_factory=dict,
        description="The policy features that moved the chosen candidate's expected value most, each with its "
        "contribution (reward units); empty for silence.",
    )


class FeedbackUpdate(BaseModel):
    context: UserContext
    candidate: TipCandidate
    reward: float
    policy_state: OpaqueState | None = None


class PolicyStateResponse(BaseModel):
    policy_state: OpaqueState


class MlPort(Protocol):
    """The recommender's one way to ML: in process by default, over HTTP when OO_ML_URL is set."""

    async def generate(self, request: GenerateRequest) -> GenerateResponse: ...

    async def rank(self, request: RankRequest) -> RankResponse: ...

    async def feedback(self, request: FeedbackUpdate) -> PolicyStateResponse: ...

    async def learned(self, request: LearnedRequest) -> LearnedResponse:
        """What the person's policy learned, in sentences their own reactions bear out (ADR 0026)."""
        ...


class FeatureModel(Protocol):
    """Turns a user's events into feature state, and state into context (ml/features, injected).

    The state is the model's own document: callers store it and hand it back, and ask the model
    whatever they need to know of it."""

    def initial_state(self) -> OpaqueState: ...

    def apply(self, state: OpaqueState, events: list[EventEnvelope]) -> OpaqueState: ...

    def context(self, user_id: str, state: OpaqueState, now: datetime) -> UserContext: ...

    def context_update(
        self, state: OpaqueState, timezone: str | None, device_class: DeviceClass | None
    ) -> ContextObserved | None:
        """The context worth recording from a request, if any: the device's time zone while the person
        has none. Their zone is theirs to change (`profile.timezone_set.v1`), not a device's; and a
        person on two devices is not a new signal at each ask, which would end a held answer."""
        ...

    def done_since(self, state: OpaqueState, ref_id: str, since: datetime) -> bool:
        """Whether the task or habit `ref_id` was done (or removed) after `since`."""
        ...

    def processing_choice(self, state: OpaqueState, purpose: ConsentPurpose) -> bool | None:
        """The person's latest answer for `purpose` as folded into the state (`core` and `llm`), or None
        if they never gave one (then the deployment's default holds). Cheap: asked before every decision."""
        ...

    def recorded(self, state: OpaqueState, now: datetime) -> RecordedFacts:
        """What the state holds of the person, typed, for "what oO knows about me"."""
        ...


# Decisions no policy made (their reactions teach no policy): first-run steps, and quiet hours.
ONBOARDING_POLICY_VERSION = "onboarding-v1"
QUIET_HOURS_POLICY_VERSION = "quiet-hours-v1"

REWARDS: dict[Reaction, float] = {Reaction.done: 1.0, Reaction.later: 0.3, Reaction.dismiss: -0.3}


_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset(
    {"a", "an", "the", "to", "of", "for", "and", "or", "in", "on", "at", "it", "is", "be", "your", "you"}
    | {"this", "that", "with", "while", "now"}
)


TITLE_SLOT = re.compile(r"⟦([A-Za-z0-9_.:-]{1,64})⟧")


def title_slot(task_id: str) -> str:
    """Where a provider task's title goes in a tip's text (ADR 0023). Candidates, decisions, the LLM
    cache and events hold the slot; the answer to the person is rendered with the title on demand."""
    return f"⟦{task_id}⟧"


def titles_in(text: str) -> list[str]:
    """The task ids whose titles `text` quotes, in order of appearance."""
    return TITLE_SLOT.findall(text)


def render_titles(text: str, titles: Mapping[str, str]) -> str:
    """`text` with each slot replaced by its task's title (`titles` holds one for every slot in it)."""
    return TITLE_SLOT.sub(lambda match: titles[match.group(1)], text)


def text_fingerprint(text: str) -> list[str]:
    """A tip's content words, each hashed: enough to tell near-duplicates apart (word overlap), not
    enough to read the text back. Dismissed tips are remembered by this, never by their words."""
    words = {w for w in _WORD.findall(text.lower()) if w not in _STOP}
    return sorted(hashlib.sha256(w.encode()).hexdigest()[:10] for w in words)
