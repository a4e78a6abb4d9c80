"""The integrations' HTTP contract: a person's connections to providers and what oO last read of them."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ConnectionStatus = Literal["connected", "broken", "not_connected"]
RefreshOutcome = Literal["refreshed", "not_connected", "not_allowed", "failed"]


class IntegrationStatus(BaseModel):
    """One provider as the person's settings show it: never a token, never what the provider holds."""

    provider: str = Field(description="`todoist`, or a calendar's provider name.")
    status: ConnectionStatus = Field(
        description="`broken`: the provider refused oO's grant (revoked, expired); connect again."
    )
    consent: str = Field(description="The consent purpose the person grants before oO reads this provider.")
    consent_granted: bool
    scopes: list[str] = Field(default_factory=list, description="What the grant allows at the provider.")
    completes_tasks: bool = Field(
        default=False, description="Done in oO completes the task at the provider (Todoist's `data:read_write`)."
    )
    connected_at: AwareDatetime | None = None
    last_synced_at: AwareDatetime | None = Field(
        default=None, description="When oO last read the provider successfully."
    )
    stale: bool = Field(default=False, description="The last refresh failed: what oO knows is as of `last_synced_at`.")
    sync_error: str | None = Field(
        default=None,
        description="Why the last refresh failed: `unreachable`, `timeout`, `rate_limited`, `unauthorized`, "
        "`provider_error`, `refused` or `unexpected`.",
    )


class Integrations(BaseModel):
    integrations: list[IntegrationStatus]


class AuthorizationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    complete_tasks: bool = Field(
        default=False,
        description="Ask for write access too, so that Done in oO completes the task at the provider.",
    )


class Authorization(BaseModel):
    authorize_url: str = Field(description="Send the person here; the provider sends them back to oO's callback.")
    expires_in: int = Field(description="Seconds the authorization stays open.")


class RefreshResult(BaseModel):
    outcome: RefreshOutcome
    integration: IntegrationStatus
