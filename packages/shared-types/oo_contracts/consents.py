"""Consents: what a person lets oO do, per purpose, each answer kept with the text it answered.

The purposes are a closed list, and so are the integrations that have one. Each purpose's texts are
kept here, oldest first: the text a person answered is `CONSENT_TEXTS[purpose][version - 1]`, so a
record's version always leads back to its words, and the page shows the words the server will record.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class ConsentPurpose(StrEnum):
    core = "core"  # oO processing the person's signals at all: storing, folding, deciding, learning
    llm = "llm"  # a language model reading a summary of their context to write tips (ADR 0012)
    push = "push"
    email = "email"
    integration_todoist = "integration:todoist"
    integration_google_calendar = "integration:google_calendar"
    integration_caldav = "integration:caldav"
    integration_ics = "integration:ics"


INTEGRATION_PREFIX = "integration:"
# The integrations a person can consent to; a new connector adds its purpose above and here.
INTEGRATIONS: tuple[str, ...] = ("todoist", "google_calendar", "caldav", "ics")


def integration_of(purpose: ConsentPurpose) -> str | None:
    """The integration a purpose is for (`todoist` for `integration:todoist`), None for the others."""
    return purpose.value.removeprefix(INTEGRATION_PREFIX) if purpose.value.startswith(INTEGRATION_PREFIX) else None


class ConsentHow(StrEnum):
    """Where the person answered: on the page, through the API, or at the command line."""

    page = "page"
    api = "api"
    cli = "cli"


# A material change of a text is a new version appended here; older answers keep their version.
CONSENT_TEXTS: dict[ConsentPurpose, tuple[str, ...]] = {
    ConsentPurpose.core: (
        "oO keeps and reads what you tell it (check-ins, tasks, habits, reactions) to choose your tips.",
    ),
    ConsentPurpose.llm: (
        "A language model reads a short summary of your day (open tasks, habits, the time, your last "
        "check-in) to write tips.",
    ),
    ConsentPurpose.push: ("oO may send you notifications on this device's browser.",),
    ConsentPurpose.email: ("oO may send you tips by email.",),
    ConsentPurpose.integration_todoist: ("oO reads your Todoist tasks, once you connect Todoist.",),
    ConsentPurpose.integration_google_calendar: (
        "oO reads when your Google Calendar is busy (never what the events are), once you connect it.",
    ),
    ConsentPurpose.integration_caldav: (
        "oO reads when your CalDAV calendars are busy (never what the events are, who comes or where), "
        "with the app password you give it, once you connect them.",
    ),
    ConsentPurpose.integration_ics: (
        "oO reads when the calendar at your subscription link is busy (never what the events are, who "
        "comes or where), once you give it the link.",
    ),
}
assert set(CONSENT_TEXTS) == set(ConsentPurpose), "every purpose has its text"
assert {integration_of(p) for p in ConsentPurpose} - {None} == set(INTEGRATIONS), "one purpose per integration"


def current_version(purpose: ConsentPurpose) -> int:
    return len(CONSENT_TEXTS[purpose])


def text_of(purpose: ConsentPurpose, version: int) -> str | None:
    texts = CONSENT_TEXTS[purpose]
    return texts[version - 1] if 1 <= version <= len(texts) else None


def check_version(purpose: ConsentPurpose, version: int) -> None:
    """Refuse an answer to a text that does not exist (yet): no record may point at words never shown."""
    if version > current_version(purpose):
        raise ValueError(f"{purpose.value!r} has no text version {version} (the current is {current_version(purpose)})")


def granted_by_default(local_mode: bool) -> frozenset[ConsentPurpose]:
    """What holds for a purpose the person never answered: the deployment's default (ADR 0012, 0022).

    On a person's own machine (local mode) they chose to run oO and, if they set one, the LLM proxy:
    `core` and `llm` are granted until they say otherwise. Contact (push, email) and integrations are
    asked for everywhere. In a multi-user deployment every purpose waits for the person's own yes."""
    return frozenset({ConsentPurpose.core, ConsentPurpose.llm}) if local_mode else frozenset()


# ---- the HTTP contract: GET and PUT /v1/me/consents ---------------------------------------------


class ConsentState(BaseModel):
    """Where one purpose stands for the caller, and the text the page should show for it."""

    purpose: ConsentPurpose
    granted: bool = Field(description="Whether oO may do this now: the latest answer, or the default if none.")
    version: int | None = Field(
        description="The version of the text the latest answer answered; null: never answered, the default holds."
    )
    at: AwareDatetime | None = Field(description="When the latest answer was given; null: never answered.")
    how: ConsentHow | None = Field(description="Where the latest answer was given; null: never answered.")
    current_version: int = Field(description="The version of the text to show now; send it back with an answer.")
    text: str = Field(description="The text of `current_version`, in plain words.")


class Consents(BaseModel):
    consents: list[ConsentState] = Field(description="Every purpose, in a fixed order.")


class ConsentChange(BaseModel):
    """One answer: grant or withdraw `purpose`, having been shown version `version` of its text."""

    model_config = ConfigDict(extra="forbid")

    purpose: ConsentPurpose
    granted: bool
    version: int = Field(ge=1, le=1000, description="The version of the purpose's text the person was shown.")

    @model_validator(mode="after")
    def _known_text(self) -> ConsentChange:
        check_version(self.purpose, self.version)
        return self


class ConsentsUpdate(BaseModel):
    """Answers for one or several purposes, each at most once; the purposes left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    consents: list[ConsentChange] = Field(min_length=1, max_length=len(ConsentPurpose))

    @model_validator(mode="after")
    def _each_purpose_once(self) -> ConsentsUpdate:
        seen: set[ConsentPurpose] = set()
        for change in self.consents:
            if change.purpose in seen:
                raise ValueError(f"{change.purpose.value!r} is answered twice; answer each purpose once")
            seen.add(change.purpose)
        return self


class ConsentRecord(BaseModel):
    """One answer as kept, for the export: the history is append-only, oldest first."""

    purpose: ConsentPurpose
    granted: bool
    version: int
    text: str | None = Field(description="The words of the version answered (null if oO no longer knows it).")
    at: AwareDatetime
    how: ConsentHow
