"""Who is calling: the one Principal every request resolves to, whatever the login method."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Scope(StrEnum):
    """What a personal API token may do. Local mode and the page's sessions hold every scope."""

    events_write = "events:write"
    account_read = "account:read"
    account_delete = "account:delete"
    tips = "tips"
    # Granting or withdrawing a consent, by PUT /v1/me/consents or by its event: a token that only
    # posts signals cannot say yes on the person's behalf.
    consents_write = "consents:write"
    # Connecting a provider (and disconnecting it): it lets oO read a part of the person's life.
    integrations_write = "integrations:write"
    # Signing browsers out (one, or all with every API client's refresh family) and linking logins.
    sessions_write = "sessions:write"


ALL_SCOPES: frozenset[Scope] = frozenset(Scope)


class AuthMethod(StrEnum):
    local = "local"
    api_token = "api_token"  # noqa: S105 (a method name, not a secret)
    access_token = "access_token"  # noqa: S105 (an API client's short-lived JWT, signed by oO)
    session = "session"  # the page in a browser, signed in through an OIDC provider


class Role(StrEnum):
    """What a person may do beyond their own data: `admin` reaches the operator's pages. Set only by an
    operator (`oo users role`), never by a login or a token's claim."""

    member = "member"
    admin = "admin"


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    scopes: frozenset[Scope]
    method: AuthMethod
    role: Role = Role.member

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes


class RefreshGrant(BaseModel):
    """`POST /v1/auth/token`: a refresh token traded for a new access token and its successor."""

    model_config = ConfigDict(extra="forbid")

    grant_type: Literal["refresh_token"]
    refresh_token: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")


class TokenPair(BaseModel):
    """An API client's credentials: the access token for every call until `expires_in` seconds pass,
    and the refresh token for the next pair (usable once: a second use revokes the whole family)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the scheme's name, not a secret)
    expires_in: int
    refresh_token: str
    scope: str = Field(description="The scopes granted, space-separated.")
