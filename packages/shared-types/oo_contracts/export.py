"""The account export: everything oO holds about one person, one section per owning module."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oo_contracts.consents import ConsentRecord
from oo_contracts.events import EventEnvelope
from oo_contracts.identity import Scope

EXPORT_FORMAT = "oo.account-export.v1"


class ApiTokenRecord(BaseModel):
    """A personal API token as exported: never its secret or hash."""

    token_id: str
    name: str
    scopes: list[Scope]
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None


class ClientSessionRecord(BaseModel):
    """An API client signed in (a refresh family): never a token, only when it began and its scopes."""

    model_config = ConfigDict(extra="forbid")

    family_id: str
    scopes: list[Scope]
    started_at: AwareDatetime
    revoked_at: AwareDatetime | None


class LoginIdentityRecord(BaseModel):
    """A login linked to the account: who the person is at that provider (its issuer and subject)."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    issuer: str
    subject: str
    linked_at: AwareDatetime


class PendingLinkRecord(BaseModel):
    """A link to another provider the person started and has not finished (it lapses on its own)."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    expires_at: AwareDatetime


class PageSessionRecord(BaseModel):
    """A browser signed in to the page: never its cookie or the cookie's hash."""

    model_config = ConfigDict(extra="forbid")

    session_id: str
    device: str
    created_at: AwareDatetime
    last_seen_at: AwareDatetime
    expires_at: AwareDatetime
    revoked_at: AwareDatetime | None


class IdentitySection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str
    kind: Literal["local", "regular"]
    role: Literal["member", "admin"] = "member"
    created_at: AwareDatetime
    api_tokens: list[ApiTokenRecord]
    client_sessions: list[ClientSessionRecord] = Field(default_factory=list)
    logins: list[LoginIdentityRecord] = Field(default_factory=list)
    pending_links: list[PendingLinkRecord] = Field(default_factory=list)
    page_sessions: list[PageSessionRecord] = Field(default_factory=list)


class EventsSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventEnvelope]


class PolicyRecord(BaseModel):
    policy_version: str
    observations: int
    state: dict[str, Any]


class DecisionRecord(BaseModel):
    decision_id: UUID
    created_at: AwareDatetime
    policy_version: str
    chosen: str | None
    propensity: float
    candidates: list[dict[str, Any]]
    context: dict[str, Any]
    shadow: dict[str, Any]
    effects: dict[str, float]
    reaction: str | None
    reason: str | None
    reacted_at: AwareDatetime | None


class RecommenderSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature_state: dict[str, Any] | None
    policy: PolicyRecord | None
    decisions: list[DecisionRecord]
    llm_cache: dict[str, Any] | None = None


class ConnectionRecord(BaseModel):
    """A connection to a provider as exported: never a token, only whether it works and what it may read."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    connected: bool
    scopes: list[str]
    connected_at: AwareDatetime
    account_id: str | None = Field(default=None, description="Your user id at the provider.")
    last_synced_at: AwareDatetime | None = None
    sync_error: str | None = None


class ProviderTaskRecord(BaseModel):
    """A provider's task oO tracks: its ids only; its features are in the events, its text nowhere."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    task_id: str


class PendingAuthorization(BaseModel):
    """A provider's consent screen the person was sent to and has not come back from (it expires)."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    started_at: AwareDatetime
    expires_at: AwareDatetime


class IntegrationsSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connections: list[ConnectionRecord]
    tasks: list[ProviderTaskRecord] = Field(default_factory=list)
    pending_authorizations: list[PendingAuthorization] = Field(default_factory=list)


class ConsentsSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    history: list[ConsentRecord]


class AccountExport(BaseModel):
    """Published as JSON Schema at `packages/shared-types/schemas/account-export.schema.json`."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["oo.account-export.v1"]
    exported_at: AwareDatetime
    user_id: str
    identity: IdentitySection
    events: EventsSection
    recommender: RecommenderSection
    integrations: IntegrationsSection
    consents: ConsentsSection
