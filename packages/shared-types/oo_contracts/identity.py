"""Who is calling: the one Principal every request resolves to, whatever the login method."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Scope(StrEnum):
    """What a personal API token may do. Local mode and (later) sessions hold every scope."""

    events_write = "events:write"
    account_read = "account:read"
    account_delete = "account:delete"
    tips = "tips"
    # Granting or withdrawing a consent, by PUT /v1/me/consents or by its event: a token that only
    # posts signals cannot say yes on the person's behalf.
    consents_write = "consents:write"
    # Connecting a provider (a calendar, a task app): what oO may then read of the person's life.
    integrations_write = "integrations:write"


ALL_SCOPES: frozenset[Scope] = frozenset(Scope)


class AuthMethod(StrEnum):
    local = "local"
    api_token = "api_token"  # noqa: S105 (a method name, not a secret)


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    scopes: frozenset[Scope]
    method: AuthMethod

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes
