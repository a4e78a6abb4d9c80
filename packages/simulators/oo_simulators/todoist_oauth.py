"""Todoist's OAuth 2 as the simulator serves it: the authorize redirect, the code and refresh exchanges,
the two revocations, and the grants behind every token.

A grant is one person's consent to one app; its access and refresh tokens point at it, and revoking any
of them ends the grant (and the app's webhooks for that person). Refresh tokens rotate on every use;
the retry grace window some sources claim for Todoist is not simulated: a used refresh token is dead.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from oo_simulators.todoist_state import ApiError

SCOPES = frozenset({"task:add", "data:read", "data:read_write", "data:delete", "project:delete", "backups:read"})
CODE_LIFETIME = timedelta(minutes=10)
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)  # only for apps with refresh tokens: the others' tokens live on

Need = Literal["read", "add", "write"]
# Which scopes allow what: data:read_write includes task:add and data:read; data:delete includes both.
_ALLOWS: dict[Need, frozenset[str]] = {
    "read": frozenset({"data:read", "data:read_write", "data:delete"}),
    "add": frozenset({"task:add", "data:read_write", "data:delete"}),
    "write": frozenset({"data:read_write", "data:delete"}),
}


@dataclass(frozen=True)
class ClientApp:
    """An app registered in Todoist's App Management Console."""

    client_secret: str
    redirect_uri: str
    refresh_tokens: bool = False


@dataclass
class Grant:
    id: str
    client_id: str
    user_id: str
    scopes: frozenset[str]
    revoked: bool = False

    def allows(self, need: Need) -> bool:
        return bool(self.scopes & _ALLOWS[need])


@dataclass
class _Code:
    client_id: str
    user_id: str
    scopes: frozenset[str]
    expires_at: datetime
    state: str | None


@dataclass
class _Token:
    grant: Grant
    expires_at: datetime | None
    used: bool = False  # for refresh tokens: rotated away


def oauth_error(name: str, status: int = 400) -> ApiError:
    # The docs name the errors (`bad_authorization_code`, `incorrect_application_credentials`,
    # `invalid_grant`); the body is Todoist's usual error JSON with that name as `error`.
    return ApiError(status, name, name.upper())


def unauthorized() -> ApiError:
    return ApiError(401, "Invalid token", "AUTH_INVALID_TOKEN", access_type="access_token")


@dataclass
class Authorizations:
    """Codes, tokens and grants; `decision` is what the simulated person answers on the consent page."""

    clients: dict[str, ClientApp]
    decision: tuple[str, Literal["allow", "deny"]] = ("demo", "allow")
    codes: dict[str, _Code] = field(default_factory=dict)
    access: dict[str, _Token] = field(default_factory=dict)
    refresh: dict[str, _Token] = field(default_factory=dict)
    grants: list[Grant] = field(default_factory=list)

    def reset(self) -> None:
        self.decision = ("demo", "allow")
        self.codes.clear()
        self.access.clear()
        self.refresh.clear()
        self.grants.clear()

    def authorize(self, client_id: str, scope: str, state: str | None, now: datetime) -> tuple[str, str]:
        """The redirect's query for the consent page's outcome: ("code", code) or ("error", name)."""
        scopes = frozenset(s.strip() for s in scope.split(",") if s.strip())
        if not scopes or not scopes <= SCOPES:
            return "error", "invalid_scope"
        user_id, choice = self.decision
        if choice == "deny":
            return "error", "access_denied"
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Code(client_id, user_id, scopes, now + CODE_LIFETIME, state)
        return "code", code

    def check_client(self, client_id: str, client_secret: str) -> ClientApp:
        app = self.clients.get(client_id)
        if app is None or not secrets.compare_digest(app.client_secret, client_secret):
            raise oauth_error("incorrect_application_credentials")
        return app

    def exchange_code(self, client_id: str, code: str, now: datetime) -> dict[str, object]:
        pending = self.codes.pop(code, None)  # single use, even when it fails below
        if pending is None or pending.client_id != client_id or pending.expires_at <= now:
            raise oauth_error("bad_authorization_code")
        grant = Grant(secrets.token_hex(8), client_id, pending.user_id, pending.scopes)
        self.grants.append(grant)
        return self._issue(grant, now) | {"state": pending.state}

    def exchange_refresh(self, client_id: str, refresh_token: str, now: datetime) -> dict[str, object]:
        token = self.refresh.get(refresh_token)
        if token is None or token.used or token.grant.revoked or token.grant.client_id != client_id:
            raise oauth_error("invalid_grant")
        token.used = True
        return self._issue(token.grant, now)

    def _issue(self, grant: Grant, now: datetime) -> dict[str, object]:
        # `state` echoes the authorize request's: the SDK's `AuthResult` cannot parse an answer without it.
        app = self.clients[grant.client_id]
        access = secrets.token_hex(20)
        body: dict[str, object] = {"access_token": access, "token_type": "Bearer", "state": None}
        if not app.refresh_tokens:
            self.access[access] = _Token(grant, None)
            return body
        self.access[access] = _Token(grant, now + ACCESS_TOKEN_LIFETIME)
        refresh = secrets.token_hex(20)
        self.refresh[refresh] = _Token(grant, None)
        return body | {
            "refresh_token": refresh,
            "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            "scope": ",".join(sorted(grant.scopes)),
        }

    def grant_for(self, access_token: str, now: datetime) -> Grant:
        token = self.access.get(access_token)
        if token is None or token.grant.revoked or (token.expires_at is not None and token.expires_at <= now):
            raise unauthorized()
        return token.grant

    def revoke(self, client_id: str, token: str) -> None:
        """End the grant behind an access or refresh token of this app; an unknown token is no error (RFC 7009)."""
        found = self.access.get(token) or self.refresh.get(token)
        if found is not None and found.grant.client_id == client_id:
            found.grant.revoked = True

    def authorized_clients(self, user_id: str) -> list[str]:
        """The apps this person has a live grant with: the ones whose webhooks fire for them."""
        return sorted({g.client_id for g in self.grants if g.user_id == user_id and not g.revoked})
