"""Use cases of the auth module: users, personal API tokens, and resolving a caller to a Principal."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from oo_contracts.events import UserCreated, UserRoleSet, envelope
from oo_contracts.export import (
    ApiTokenRecord,
    ClientSessionRecord,
    IdentitySection,
    LoginIdentityRecord,
    PageSessionRecord,
    PendingLinkRecord,
)
from oo_contracts.identity import ALL_SCOPES, AuthMethod, Principal, Role, Scope, TokenPair
from services.auth.access_tokens import ACCESS_SECONDS, AccessTokens
from services.auth.login import Identities, TakenFlow, refuse_inactive, refuse_taken
from services.auth.oidc import VerifiedIdentity
from services.auth.refresh import RefreshFamilies
from services.auth.repository import AuthRepository
from services.auth.sessions import NewSession, Sessions
from services.auth.tokens import NewToken, mint_token, parse_token, secret_matches, token_id_of
from services.kernel.errors import NotFound, Unavailable
from services.kernel.ports import EventPublisher
from services.kernel.unit_of_work import UnitOfWork

TokenRevocation = Literal["revoked", "not_live", "malformed"]
RoleChange = Literal["set", "unchanged", "no_user"]


def new_user_id() -> str:
    return f"usr_{secrets.token_hex(12)}"


class IdentityService:
    def __init__(
        self, repository: AuthRepository, publisher: EventPublisher, access: AccessTokens, sessions: Sessions
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._access = access
        self._families = RefreshFamilies()
        self.sessions = sessions
        self._identities = Identities()

    async def create_user(self, uow: UnitOfWork, *, kind: str = "regular") -> str:
        user_id = new_user_id()
        now = datetime.now(UTC)
        await self._repository.add_user(uow, user_id, kind, now)
        await self._user_created(uow, user_id, kind, now)
        return user_id

    async def _user_created(self, uow: UnitOfWork, user_id: str, kind: str, now: datetime) -> None:
        created = envelope(
            event_id=uuid.uuid4(),
            event_type="auth.user_created.v1",
            user_id=user_id,
            occurred_at=now,
            source="auth",
            payload=UserCreated(kind="local" if kind == "local" else "regular"),
        )
        await self._publisher.publish(uow, [created])

    async def issue_token(
        self, uow: UnitOfWork, user_id: str, *, scopes: Iterable[Scope] = ALL_SCOPES, name: str = "cli"
    ) -> NewToken:
        user = await self._repository.user(uow, user_id)
        if user is None or user.status != "active":
            raise NotFound(f"no active user {user_id!r}", code="user_not_found")
        token = mint_token()
        await self._repository.add_token(
            uow,
            token_id=token.token_id,
            user_id=user_id,
            name=name,
            secret_sha256=token.secret_sha256,
            scopes=sorted(scope.value for scope in set(scopes)),
            created_at=datetime.now(UTC),
        )
        return token

    async def revoke_token(self, uow: UnitOfWork, token: str) -> TokenRevocation:
        """Revoke one token, given whole or by its id (the 16 hex digits after `oo_pat_`).

        `not_live` when no live token has that id — revoked before, erased with its account, or never
        issued — which leaves the token as unusable as `revoked` does, so revoking is idempotent
        (as RFC 7009 has it); `malformed` when the text is neither a token nor an id."""
        token_id = token_id_of(token)
        if token_id is None:
            return "malformed"
        live = await self._repository.revoke_token(uow, token_id, datetime.now(UTC))
        return "revoked" if live else "not_live"

    async def start_client_session(self, uow: UnitOfWork, user_id: str, scopes: Iterable[Scope]) -> TokenPair:
        """An API client's first pair (after a login), its refresh family new."""
        granted = frozenset(scopes)
        refresh = await self._families.start(uow, user_id, granted, datetime.now(UTC))
        return self._pair(user_id, granted, refresh)

    async def refresh(self, uow: UnitOfWork, refresh_token: str) -> TokenPair | None:
        """The next pair for a refresh token used once; None for any other (a reuse revokes its family)."""
        rotated = await self._families.rotate(uow, refresh_token, datetime.now(UTC))
        if rotated is None:
            return None
        user = await self._repository.user(uow, rotated.user_id, lock=True)
        if user is None or user.status != "active":
            return None
        return self._pair(rotated.user_id, rotated.scopes, rotated.refresh_token)

    def _pair(self, user_id: str, scopes: frozenset[Scope], refresh: str) -> TokenPair:
        return TokenPair(
            access_token=self._access.issue(user_id, scopes),
            expires_in=ACCESS_SECONDS,
            refresh_token=refresh,
            scope=" ".join(sorted(scope.value for scope in scopes)),
        )

    def jwks(self) -> dict[str, Any]:
        return self._access.jwks()

    def could_be_valid(self, token: str) -> bool:
        if token.count(".") == 2:
            return self._access.verify(token) is not None
        return parse_token(token) is not None

    async def principal_for_token(self, uow: UnitOfWork, token: str) -> Principal | None:
        if token.count(".") == 2:  # compact JWS: an API client's access token
            return await self._principal_for_access_token(uow, token)
        parsed = parse_token(token)
        if parsed is None:
            return None
        token_id, secret = parsed
        row = await self._repository.token_with_user_status(uow, token_id)
        if row is None or row.revoked_at is not None or not secret_matches(secret, row.secret_sha256):
            return None
        if row.user_status != "active":
            return None
        return Principal(
            user_id=row.user_id,
            scopes=frozenset(Scope(s) for s in row.scopes),
            method=AuthMethod.api_token,
            role=Role(row.user_role),
        )

    async def _principal_for_access_token(self, uow: UnitOfWork, token: str) -> Principal | None:
        claims = self._access.verify(token)
        if claims is None:
            return None
        user = await self._repository.user(uow, claims.user_id, lock=True)
        if user is None or user.status != "active":
            return None  # deleted or being deleted: its access tokens die with it, not at their expiry
        # The role is the user row's, now: a token carries none, so a demotion takes effect at once.
        return Principal(
            user_id=claims.user_id, scopes=claims.scopes, method=AuthMethod.access_token, role=Role(user.role)
        )

    async def principal_for_session(self, uow: UnitOfWork, secret: str) -> tuple[Principal, bool] | None:
        """The person a page's session cookie stands for, and whether its last use is worth recording
        now; None when the session is unknown, ended, idle too long or past its end."""
        live = await self.sessions.live(uow, secret)
        if live is None:
            return None
        principal = Principal(user_id=live.user_id, scopes=ALL_SCOPES, method=AuthMethod.session, role=Role(live.role))
        return principal, live.touch_due

    async def touch_session(self, uow: UnitOfWork, secret: str) -> None:
        await self.sessions.touch(uow, secret)

    async def complete_login(
        self,
        uow: UnitOfWork,
        flow: TakenFlow,
        verified: VerifiedIdentity,
        *,
        user_agent: str | None,
        replacing: str | None,
    ) -> NewSession:
        """Map the verified identity to its person — a new person for an identity never seen, the
        person who asked for a link — and start the browser's new session (its old one ends)."""
        now = datetime.now(UTC)
        if flow.link_user_id is not None:
            refuse_inactive(await self.hold_active_user(uow, flow.link_user_id))
            holder = await self._identities.add(uow, verified, flow.provider, flow.link_user_id, now)
            refuse_taken(holder, flow.link_user_id)
            user_id = holder
        else:
            known = await self._identities.owner(uow, verified.issuer, verified.subject)
            if known is None:
                user_id = await self.create_user(uow)
                # A concurrent first login of the same identity made its person first: this one, and
                # the person it made, roll back (409) and the browser's next try signs in as that one.
                refuse_taken(await self._identities.add(uow, verified, flow.provider, user_id, now), user_id)
            else:
                refuse_inactive(await self.hold_active_user(uow, known))
                user_id = known
        return await self.sessions.start(uow, user_id, user_agent=user_agent, replacing=replacing)

    async def forget_identity(self, uow: UnitOfWork, issuer: str, subject: str) -> str | None:
        """The provider says the person stopped using it with oO: that login is unlinked and every
        session and client of the person ends (they sign in again, with another login). The person it
        was, or None if none holds it."""
        user_id = await self._identities.unlink(uow, issuer, subject)
        if user_id is not None:
            await self.sign_out_everywhere(uow, user_id)
        return user_id

    async def owner_of(self, uow: UnitOfWork, issuer: str, subject: str) -> str | None:
        return await self._identities.owner(uow, issuer, subject)

    async def sign_out_everywhere(self, uow: UnitOfWork, user_id: str) -> None:
        """Every page session and every API client's refresh family of the person ends; personal API
        tokens, made and revoked one by one, stay."""
        await self.sessions.end_all_of(uow, user_id)
        await self._families.revoke_all_of(uow, user_id, datetime.now(UTC))

    async def identities_of(self, uow: UnitOfWork, user_id: str) -> list[Any]:
        return await self._identities.of(uow, user_id)

    async def local_principal(self, uow: UnitOfWork) -> Principal:
        """The one local user of local mode, created on first use (again after it deleted itself)."""
        existing = await self.existing_local_principal(uow)
        if existing is not None:
            return existing
        user_id, now = new_user_id(), datetime.now(UTC)
        if await self._repository.add_local_user(uow, user_id, now):
            await self._user_created(uow, user_id, "local", now)
            return Principal(user_id=user_id, scopes=ALL_SCOPES, method=AuthMethod.local)
        # A concurrent first request made it; on Postgres this statement sees it once that one committed.
        made = await self.existing_local_principal(uow)
        if made is None:
            raise Unavailable("the local user is being made; retry", code="local_user_busy")
        return made

    async def existing_local_principal(self, uow: UnitOfWork) -> Principal | None:
        """The local user if there is one now, its row share-locked; None creates nothing."""
        user_id = await self._repository.active_local_user(uow)
        if user_id is None:
            return None
        user = await self._repository.user(uow, user_id, lock=True)
        role = Role(user.role) if user is not None else Role.member
        return Principal(user_id=user_id, scopes=ALL_SCOPES, method=AuthMethod.local, role=role)

    async def set_role(self, uow: UnitOfWork, user_id: str, role: Role) -> RoleChange:
        """An operator's decision (`oo users role`), recorded as an event in the person's history."""
        if not await self._repository.set_role(uow, user_id, role.value):
            user = await self._repository.user(uow, user_id)
            return "unchanged" if user is not None and user.status == "active" else "no_user"
        changed = envelope(
            event_id=uuid.uuid4(),
            event_type="auth.user_role_set.v1",
            user_id=user_id,
            occurred_at=datetime.now(UTC),
            source="auth",
            payload=UserRoleSet(role=role.value, how="cli"),
        )
        await self._publisher.publish(uow, [changed])
        return "set"

    async def hold_active_user(self, uow: UnitOfWork, user_id: str) -> bool:
        """Whether the user is active, their row share-locked for the rest of `uow`: a deletion that
        begins meanwhile waits for this transaction, so nothing is written for a user being erased."""
        user = await self._repository.user(uow, user_id, lock=True)
        return user is not None and user.status == "active"

    async def users_being_deleted(self, uow: UnitOfWork) -> list[str]:
        return await self._repository.users_with_status(uow, "deleting")

    async def begin_deletion(self, uow: UnitOfWork, user_id: str) -> bool:
        """Mark the user as being deleted and revoke every token at once. False if no such user."""
        user = await self._repository.user(uow, user_id, lock=True)
        if user is None:
            return False
        now = datetime.now(UTC)
        await self._repository.set_status(uow, user_id, "deleting")
        await self._repository.revoke_tokens_of(uow, user_id, now)
        await self._families.revoke_all_of(uow, user_id, now)
        await self.sessions.end_all_of(uow, user_id)
        return True


class UserIdentity:
    """The auth module as a UserDataOwner. Erased last: its rows are what deletion is keyed on."""

    section = "identity"
    tables: tuple[str, ...] = (
        "auth_users",
        "auth_api_tokens",
        "auth_refresh_tokens",
        "auth_identities",
        "auth_sessions",
        "auth_login_flows",
    )

    def __init__(self, repository: AuthRepository, sessions: Sessions) -> None:
        self._repository = repository
        self._families = RefreshFamilies()
        self._sessions = sessions
        self._identities = Identities()

    async def export_user(self, uow: UnitOfWork, user_id: str) -> IdentitySection | None:
        user = await self._repository.user(uow, user_id)
        if user is None:
            return None
        tokens = await self._repository.tokens_of(uow, user_id)
        return IdentitySection(
            user_id=user.user_id,
            kind=user.kind,
            role=user.role,
            created_at=user.created_at,
            api_tokens=[
                ApiTokenRecord(
                    token_id=t.token_id,
                    name=t.name,
                    scopes=[Scope(s) for s in t.scopes],
                    created_at=t.created_at,
                    revoked_at=t.revoked_at,
                )
                for t in tokens
            ],
            client_sessions=[
                ClientSessionRecord(
                    family_id=row.family_id,
                    scopes=[Scope(s) for s in row.scopes],
                    started_at=row.family_started_at,
                    revoked_at=row.revoked_at,
                )
                for row in await self._families.of(uow, user_id)
            ],
            logins=[
                LoginIdentityRecord(
                    provider=row.provider, issuer=row.issuer, subject=row.subject, linked_at=row.linked_at
                )
                for row in await self._identities.of(uow, user_id)
            ],
            pending_links=[
                PendingLinkRecord(provider=row.provider, expires_at=row.expires_at)
                for row in await self._identities.pending_links_of(uow, user_id)
            ],
            page_sessions=[
                PageSessionRecord(
                    session_id=row.session_id,
                    device=row.device,
                    created_at=row.created_at,
                    last_seen_at=row.last_seen_at,
                    expires_at=row.expires_at,
                    revoked_at=row.revoked_at,
                )
                for row in await self._sessions.all_of(uow, user_id)
            ],
        )

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> bool:
        await self._identities.erase(uow, user_id)
        return await self._repository.erase_user(uow, user_id)
