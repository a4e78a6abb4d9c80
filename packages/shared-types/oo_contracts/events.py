"""Event contract: the envelope and every payload schema, defined once.

Type names are ``"<module>.<fact>.v<N>"``. A payload schema is registered here and nowhere else;
the ingress, the store, the export and OpenAPI all read it from this module.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from oo_contracts.consents import ConsentHow, ConsentPurpose, check_version
from oo_contracts.text import HabitName, TaskTitle

EVENT_TYPE_PATTERN = r"^[a-z][a-z_]*\.[a-z][a-z_]*\.v[1-9][0-9]*$"
SourceName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]


def schema_version_of(event_type: str) -> int:
    """The N of ``"<module>.<fact>.v<N>"``."""
    return int(event_type.rsplit(".v", 1)[1])


class EventEnvelope(BaseModel):
    """A stored event, as the bus, the store, the export and JetStream carry it."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    type: Annotated[str, Field(pattern=EVENT_TYPE_PATTERN)]
    user_id: str
    occurred_at: AwareDatetime
    source: SourceName
    schema_version: int = Field(ge=1)
    payload: dict[str, Any]


# ---- payload schemas -------------------------------------------------------------------------


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckinRecorded(Payload):
    """The person's energy and mood on a 1-5 scale, from the page's one-tap check-in."""

    energy: int = Field(ge=1, le=5)
    mood: int = Field(ge=1, le=5)


Level = Annotated[int, Field(ge=1, le=5)]


class CheckinRecordedV2(Payload):
    """A check-in as people give it: energy, mood, or both, each on a 1–5 scale (5 the highest)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["energy"]}, {"required": ["mood"]}]})

    energy: Level | SkipJsonSchema[None] = Field(default=None, description="5 is the most energy.")
    mood: Level | SkipJsonSchema[None] = Field(default=None, description="5 is the best mood.")

    @model_validator(mode="after")
    def _something(self) -> CheckinRecordedV2:
        if self.energy is None and self.mood is None:
            raise ValueError("a check-in carries energy, mood or both")
        return self


class DeviceClass(StrEnum):
    phone = "phone"
    tablet = "tablet"
    desktop = "desktop"


@cache
def iana_timezones() -> tuple[str, ...]:
    """Every IANA zone name, from the pinned `tzdata` package (the same list on every machine)."""
    return tuple(sorted(resources.files("tzdata").joinpath("zones").read_text().split()))


def timezone_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = list(iana_timezones())


def _known_zone(value: str) -> str:
    if value not in iana_timezones():
        raise ValueError(f"unknown IANA time zone {value!r}")
    return value


IanaZone = Annotated[
    str,
    AfterValidator(_known_zone),
    Field(description="IANA time zone name, e.g. `Europe/Berlin`.", json_schema_extra=timezone_enum),
]


class ContextObserved(Payload):
    """The context of a request from the page: where the person's clock stands and on what device."""

    timezone: IanaZone
    device_class: DeviceClass


class TimezoneSet(Payload):
    """The person's own time zone, chosen by them: every local hour oO reasons with is in it."""

    timezone: IanaZone


class Cadence(StrEnum):
    daily = "daily"
    weekdays = "weekdays"
    weekly = "weekly"


IdText = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class HabitDefined(Payload):
    """A habit the person wants to keep, with the window of the day it usually happens in."""

    habit_id: IdText
    name: HabitName
    cadence: Cadence = Cadence.daily
    window_start_hour: int = Field(ge=0, le=23, description="Local hour the usual window opens.")
    window_end_hour: int = Field(ge=1, le=24, description="Local hour the usual window closes (exclusive).")
    effort: int = Field(default=2, ge=1, le=3, description="1 light, 2 moderate, 3 demanding.")

    @model_validator(mode="after")
    def _window(self) -> HabitDefined:
        if self.window_end_hour <= self.window_start_hour:
            raise ValueError("window_end_hour must be after window_start_hour")
        return self


class HabitDefinedV2(HabitDefined):
    """A habit with how long it usually takes."""

    duration_minutes: int | None = Field(default=None, ge=1, le=240, description="How long it usually takes.")


class HabitRemoved(Payload):
    """The person no longer wants tips for this habit."""

    habit_id: IdText


class QuietHoursSet(Payload):
    """Local hours in which oO shows nothing; from `start_hour` up to `end_hour` (may wrap midnight).

    Equal hours turn quiet hours off."""

    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=23)


class LlmProcessingSet(Payload):
    """Whether an LLM may read this person's context to write tips (ADR 0012). Kept for the clients
    that send it: it is recorded as an answer to version 1 of the `llm` consent text, given through the
    API; `profile.consent_set.v1` says which text was shown, and where (ADR 0022)."""

    allowed: bool


class ConsentSet(Payload):
    """The person granted or withdrew one purpose, having been shown a version of its text (ADR 0022)."""

    purpose: ConsentPurpose
    granted: bool
    version: int = Field(ge=1, le=1000, description="The version of the purpose's text the person answered.")
    how: ConsentHow = Field(default=ConsentHow.api, description="Where they answered: `page`, `api` or `cli`.")

    @model_validator(mode="after")
    def _known_text(self) -> ConsentSet:
        check_version(self.purpose, self.version)
        return self


class FirstRunAnswered(Payload):
    """The person answered a first-run step the page offers, whatever the answer: it is not offered again.
    `tasks` asks them to connect their tasks or add one; `not_now`, `task_added` or `connecting`."""

    step: Literal["tasks"]
    answer: Literal["not_now", "task_added", "connecting"]


CONSENT_EVENT_TYPES = frozenset({"profile.consent_set.v1", "profile.llm_processing_set.v1"})


class HabitDone(Payload):
    habit_id: IdText


EARLIEST_DUE_DATE, LATEST_DUE_DATE = date(2000, 1, 1), date(8999, 12, 31)


class TaskAdded(Payload):
    """A local task (for people without Todoist, and for tests). Provider tasks arrive through the same port."""

    task_id: IdText
    title: TaskTitle
    due: AwareDatetime | None = Field(default=None, description="When it is due, with an offset; none for someday.")
    estimated_minutes: int | None = Field(default=None, ge=1, le=600)
    priority: int = Field(default=1, ge=1, le=4, description="4 is the most urgent.")


class TaskAddedV2(Payload):
    """A task as task apps hold it: due on a day (`due_date`, the common case), at a moment (`due`), or
    someday (neither)."""

    model_config = ConfigDict(json_schema_extra={"not": {"required": ["due", "due_date"]}})

    task_id: IdText
    title: TaskTitle
    due: AwareDatetime | None = Field(default=None, description="Due at a moment, with an offset.")
    due_date: date | None = Field(default=None, description="Due on a day, in the person's own time zone.")
    estimated_minutes: int | None = Field(default=None, ge=1, le=600)
    priority: int = Field(default=1, ge=1, le=4, description="4 is the most urgent.")

    @model_validator(mode="after")
    def _one_due(self) -> TaskAddedV2:
        if self.due is not None and self.due_date is not None:
            raise ValueError("a task is due on a day (`due_date`) or at a moment (`due`), not both")
        if self.due_date is not None and not EARLIEST_DUE_DATE <= self.due_date <= LATEST_DUE_DATE:
            raise ValueError("due_date lies outside 2000–8999")
        return self


class TaskCompleted(Payload):
    task_id: IdText


ProviderName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="A connection's provider.")]


class ProviderTaskSynced(Payload):
    """An open task at a provider (Todoist) as oO keeps it: its id and what the policy derives from it,
    never its text (ADR 0023). New or changed since the provider was last read."""

    provider: ProviderName
    task_id: IdText = Field(description="`<provider>:<the provider's id>`.")
    due: AwareDatetime | None = Field(default=None, description="Due at a moment, with an offset.")
    due_date: date | None = Field(default=None, description="Due on a day, in the person's own time zone.")
    estimated_minutes: int | None = Field(default=None, ge=1, le=10080, description="Its duration at the provider.")
    priority: int = Field(default=1, ge=1, le=4, description="4 is the most urgent.")
    project_id: IdText | None = None
    recurring: bool = False

    @model_validator(mode="after")
    def _one_due(self) -> ProviderTaskSynced:
        if self.due is not None and self.due_date is not None:
            raise ValueError("a task is due on a day (`due_date`) or at a moment (`due`), not both")
        return self


class ProviderTaskRemoved(Payload):
    """A provider's task no longer open there: completed, deleted, or moved out of what oO reads."""

    provider: ProviderName
    task_id: IdText


class TaskDeleted(Payload):
    """The person deleted a task of their own from what oO knows (a provider's tasks go with the provider)."""

    task_id: IdText


class CheckinRemoved(Payload):
    """The person deleted one check-in from what oO knows; `checkin_id` is the id of its event."""

    checkin_id: IdText


class LearningForgotten(Payload):
    """The person asked oO to forget what it learned from their reactions: the policy starts again from
    the population prior, and the feature state's learned affinities and reaction counts are emptied."""


class ProviderForgotten(Payload):
    """Everything derived from a provider is gone: the person disconnected it or withdrew their consent."""

    provider: ProviderName


class BusyInterval(Payload):
    """A busy block from the calendar, without its title."""

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> BusyInterval:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > timedelta(days=2):
            raise ValueError("a busy interval lasts at most two days")
        return self


MAX_SYNCED_INTERVALS = 500
MAX_SYNC_WINDOW = timedelta(days=31)


class BusyBlock(Payload):
    """A busy block read from a calendar: when it starts and ends, nothing else."""

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> BusyBlock:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class BusySynced(Payload):
    """What one calendar holds as busy within a window, read from its provider (ADR 0024): it replaces
    what oO knew of that calendar within the window, so a moved or deleted event disappears. Times
    only; never a title, an attendee or a place."""

    calendar: ProviderName
    window_start: AwareDatetime
    window_end: AwareDatetime
    intervals: list[BusyBlock] = Field(
        max_length=MAX_SYNCED_INTERVALS, description="Merged busy blocks, sorted, each within the window."
    )

    @model_validator(mode="after")
    def _within_window(self) -> BusySynced:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if self.window_end - self.window_start > MAX_SYNC_WINDOW:
            raise ValueError("a sync window spans at most 31 days")
        if any(b.start < self.window_start or b.end > self.window_end for b in self.intervals):
            raise ValueError("every interval lies within the window")
        return self


class TipKind(StrEnum):
    advice = "advice"
    todo = "todo"
    checkin = "checkin"


class Reaction(StrEnum):
    done = "done"
    later = "later"
    dismiss = "dismiss"


class ReactionReason(StrEnum):
    busy = "busy"
    wrong_task = "wrong_task"
    too_big = "too_big"
    not_relevant = "not_relevant"
    wrong_why = "wrong_why"  # "that's wrong": the one-line why is not true


class TipShown(Payload):
    decision_id: UUID
    candidate_id: str
    kind: TipKind
    source: str
    local_hour: int = Field(ge=0, le=23)


class TipReacted(Payload):
    decision_id: UUID
    candidate_id: str
    kind: TipKind
    source: str
    reaction: Reaction
    reason: ReactionReason | None = None
    ref_id: str | None = None
    local_hour: int = Field(ge=0, le=23)
    fingerprint: list[str] | None = Field(
        default=None, max_length=40, description="A dismissed tip's hashed content words (near-duplicate checks)."
    )


class UserCreated(Payload):
    """A user came to exist (server-side fact)."""

    kind: Literal["local", "regular"]


class UserRoleSet(Payload):
    """An operator set the person's role (server-side fact; `oo users role`)."""

    role: Literal["member", "admin"]
    how: Literal["cli"]


# ---- ingestible events: what a client may post to POST /v1/events -----------------------------


EARLIEST_EVENT = datetime(2000, 1, 2)  # a day of margin for any UTC offset
LATEST_WALL_CLOCK = datetime(9000, 1, 1)  # far enough to convert safely; the server's skew check rejects sooner


class _IncomingBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: UUID = Field(description="Client-chosen event id (UUID); a replay with the same id stores nothing twice.")
    occurred_at: AwareDatetime = Field(
        description="When it happened, with a UTC offset; from 2000-01-01 to a few minutes past the server's clock."
    )
    source: SourceName = "api"

    @field_validator("occurred_at")
    @classmethod
    def _plausible_moment(cls, value: datetime) -> datetime:
        # Checked on the wall-clock fields first: converting year 1 or 9999 to UTC can overflow.
        wall = value.replace(tzinfo=None)
        if wall < EARLIEST_EVENT:
            raise ValueError("lies before 2000-01-01; oO keeps no signal that old")
        if wall > LATEST_WALL_CLOCK:
            raise ValueError("lies in the future")
        return value


class IncomingCheckin(_IncomingBase):
    type: Literal["profile.checkin_recorded.v1"]
    payload: CheckinRecorded


class IncomingCheckinV2(_IncomingBase):
    type: Literal["profile.checkin_recorded.v2"]
    payload: CheckinRecordedV2


class IncomingTimezoneSet(_IncomingBase):
    type: Literal["profile.timezone_set.v1"]
    payload: TimezoneSet


class IncomingHabitDefinedV2(_IncomingBase):
    type: Literal["profile.habit_defined.v2"]
    payload: HabitDefinedV2


class IncomingTaskAddedV2(_IncomingBase):
    type: Literal["integrations.task_added.v2"]
    payload: TaskAddedV2


class IncomingContext(_IncomingBase):
    type: Literal["recommender.context_observed.v1"]
    payload: ContextObserved


class IncomingHabitDefined(_IncomingBase):
    type: Literal["profile.habit_defined.v1"]
    payload: HabitDefined


class IncomingHabitDone(_IncomingBase):
    type: Literal["profile.habit_done.v1"]
    payload: HabitDone


class IncomingHabitRemoved(_IncomingBase):
    type: Literal["profile.habit_removed.v1"]
    payload: HabitRemoved


class IncomingQuietHours(_IncomingBase):
    type: Literal["profile.quiet_hours_set.v1"]
    payload: QuietHoursSet


class IncomingLlmProcessing(_IncomingBase):
    type: Literal["profile.llm_processing_set.v1"]
    payload: LlmProcessingSet


class IncomingConsentSet(_IncomingBase):
    type: Literal["profile.consent_set.v1"]
    payload: ConsentSet


class IncomingFirstRunAnswered(_IncomingBase):
    type: Literal["profile.first_run_answered.v1"]
    payload: FirstRunAnswered


class IncomingTaskAdded(_IncomingBase):
    type: Literal["integrations.task_added.v1"]
    payload: TaskAdded


class IncomingTaskCompleted(_IncomingBase):
    type: Literal["integrations.task_completed.v1"]
    payload: TaskCompleted


class IncomingBusyInterval(_IncomingBase):
    type: Literal["integrations.busy_interval_recorded.v1"]
    payload: BusyInterval


IncomingEvent = Annotated[
    IncomingCheckin
    | IncomingCheckinV2
    | IncomingContext
    | IncomingTimezoneSet
    | IncomingHabitDefined
    | IncomingHabitDefinedV2
    | IncomingHabitDone
    | IncomingHabitRemoved
    | IncomingQuietHours
    | IncomingLlmProcessing
    | IncomingConsentSet
    | IncomingFirstRunAnswered
    | IncomingTaskAdded
    | IncomingTaskAddedV2
    | IncomingTaskCompleted
    | IncomingBusyInterval,
    Field(discriminator="type"),
]

INGESTIBLE_TYPES: dict[str, type[Payload]] = {
    "profile.checkin_recorded.v1": CheckinRecorded,
    "profile.checkin_recorded.v2": CheckinRecordedV2,
    "recommender.context_observed.v1": ContextObserved,
    "profile.timezone_set.v1": TimezoneSet,
    "profile.habit_defined.v1": HabitDefined,
    "profile.habit_defined.v2": HabitDefinedV2,
    "profile.habit_done.v1": HabitDone,
    "profile.habit_removed.v1": HabitRemoved,
    "profile.quiet_hours_set.v1": QuietHoursSet,
    "profile.llm_processing_set.v1": LlmProcessingSet,
    "profile.consent_set.v1": ConsentSet,
    "profile.first_run_answered.v1": FirstRunAnswered,
    "integrations.task_added.v1": TaskAdded,
    "integrations.task_added.v2": TaskAddedV2,
    "integrations.task_completed.v1": TaskCompleted,
    "integrations.busy_interval_recorded.v1": BusyInterval,
}
SERVER_TYPES: dict[str, type[Payload]] = {
    "auth.user_created.v1": UserCreated,
    "auth.user_role_set.v1": UserRoleSet,
    "integrations.busy_synced.v1": BusySynced,
    "integrations.provider_forgotten.v1": ProviderForgotten,
    "recommender.tip_shown.v1": TipShown,
    "recommender.tip_reacted.v1": TipReacted,
    "integrations.task_synced.v1": ProviderTaskSynced,
    "integrations.task_removed.v1": ProviderTaskRemoved,
    "integrations.task_deleted.v1": TaskDeleted,
    "profile.checkin_removed.v1": CheckinRemoved,
    "recommender.learning_forgotten.v1": LearningForgotten,
}
PAYLOAD_SCHEMAS: dict[str, type[Payload]] = {**INGESTIBLE_TYPES, **SERVER_TYPES}

MAX_BATCH = 500


class EventBatch(BaseModel):
    """A batch of at most 500 events for the caller."""

    model_config = ConfigDict(extra="forbid")

    events: list[IncomingEvent] = Field(min_length=1, max_length=MAX_BATCH)


class BatchResult(BaseModel):
    """What the store did with a batch: ids newly stored and ids it already held."""

    stored: list[UUID]
    already_known: list[UUID]


def envelope(
    *,
    event_id: UUID,
    event_type: str,
    user_id: str,
    occurred_at: datetime,
    source: str,
    payload: Payload | dict[str, Any],
) -> EventEnvelope:
    """Build an envelope for a registered type, validating the payload against its schema."""
    schema = PAYLOAD_SCHEMAS[event_type]
    if isinstance(payload, dict):
        payload = schema.model_validate(payload)
    if not isinstance(payload, schema):
        raise TypeError(f"{event_type} carries {schema.__name__}, not {type(payload).__name__}")
    return EventEnvelope(
        id=event_id,
        type=event_type,
        user_id=user_id,
        occurred_at=occurred_at,
        source=source,
        schema_version=schema_version_of(event_type),
        payload=payload.model_dump(mode="json"),
    )
