"""Login and linking through an OIDC provider: the flow's state, kept server-side and bound to the
browser, and the mapping of (issuer, subject) to oO's opaque user id.

A flow is three steps, and the slow one holds no transaction: start (discovery, then one insert),
callback (take the flow — one conditional delete, so a state works once —, then the code exchange and
the ID token's checks with no transaction open, then one transaction that maps the identity to a person
and starts the session).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from services.auth.oidc import OidcClients, VerifiedIdentity
from services.auth.tables import auth_identities as identities
from services.auth.tables import auth_login_flows as flows
from services.kernel.errors import BadRequest, Conflict, Forbidden
from services.kernel.unit_of_work import UnitOfWork

# The pre-auth cookie: `<flow secret>.<PKCE verifier>`, both from `secrets` (256 and 384 bits). The
# flow's row is keyed by the secret's SHA-256, and the verifier lives in the browser alone.
_COOKIE = re.compile(r"^([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{64})$")
_STATE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# Where a login may send the person afterwards: a path of this origin, never `//host` or `/\host`.
NEXT_PATH = r"^/([A-Za-z0-9._~!$&'()*+,;=:@%?-][A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,499})?$"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class StartedFlow:
    authorization_url: str
    cookie_value: str
    max_age: int


@dataclass(frozen=True)
class TakenFlow:
    provider: str
    nonce: str
    verifier: str
    next_path: str | None
    link_user_id: str | None


class Logins:
    def __init__(self, clients: OidcClients, *, flow_seconds: int, clock: Callable[[], datetime]) -> None:
        self._clients = clients
        self._flow_life = timedelta(seconds=flow_seconds)
        self.clock = clock

    def offers(self, provider: str) -> bool:
        return self._clients.knows(provider)

    async def authorization(self, provider: str, redirect_uri: str) -> tuple[str, str, str, str, str]:
        """(authorization url, flow secret, state, nonce, verifier), the provider asked for its metadata
        (no transaction open meanwhile)."""
        flow_secret, state = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        url = await self._clients.authorization(provider, redirect_uri, state=state, nonce=nonce, verifier=verifier)
        return url, flow_secret, state, nonce, verifier

    async def record(
        self,
        uow: UnitOfWork,
        provider: str,
        made: tuple[str, str, str, str, str],
        *,
        next_path: str | None,
        link_user_id: str | None,
    ) -> StartedFlow:
        url, flow_secret, state, nonce, verifier = made
        now = self.clock()
        await uow.connection.execute(
            flows.insert().values(
                flow_key=_sha256(flow_secret),
                state_sha256=_sha256(state),
                provider=provider,
                nonce=nonce,
                next_path=next_path,
                user_id=link_user_id,
                expires_at=now + self._flow_life,
            )
        )
        return StartedFlow(url, f"{flow_secret}.{verifier}", int(self._flow_life.total_seconds()))

    async def take(self, uow: UnitOfWork, provider: str, cookie: str | None, state: str) -> TakenFlow:
        """The flow this browser started at this provider with this state, deleted as it is read: a
        replayed callback, another browser's state, or a state sent to another provider's callback
        finds none (400)."""
        parsed = _COOKIE.match(cookie or "")
        if parsed is None or not _STATE.match(state):
            raise BadRequest("this login was not started in this browser, or is over", code="login_state_mismatch")
        flow_secret, verifier = parsed.groups()
        taken = await uow.connection.execute(
            delete(flows)
            .where(
                flows.c.flow_key == _sha256(flow_secret),
                flows.c.state_sha256 == _sha256(state),
                flows.c.provider == provider,
                flows.c.expires_at > self.clock(),
            )
            .returning(flows.c.nonce, flows.c.next_path, flows.c.user_id)
        )
        row = taken.first()
        if row is None:
            raise BadRequest("this login was not started in this browser, or is over", code="login_state_mismatch")
        return TakenFlow(provider, row.nonce, verifier, row.next_path, row.user_id)

    async def verify(self, flow: TakenFlow, redirect_uri: str, *, code: str, iss: str | None) -> VerifiedIdentity:
        return await self._clients.verify(
            flow.provider, redirect_uri, code=code, verifier=flow.verifier, nonce=flow.nonce, iss=iss
        )

    async def forget_expired(self, uow: UnitOfWork) -> None:
        await uow.connection.execute(delete(flows).where(flows.c.expires_at <= self.clock()))


class Identities:
    """(issuer, subject) → user id, the database's primary key deciding who holds an identity."""

    async def owner(self, uow: UnitOfWork, issuer: str, subject: str) -> str | None:
        query = select(identities.c.user_id).where(identities.c.issuer == issuer, identities.c.subject == subject)
        return (await uow.connection.execute(query)).scalar_one_or_none()

    async def add(self, uow: UnitOfWork, verified: VerifiedIdentity, provider: str, user_id: str, now: datetime) -> str:
        """Link the identity to `user_id` unless someone holds it already; whoever holds it now."""
        insert = (postgresql.insert if uow.dialect == "postgresql" else sqlite.insert)(identities)
        await uow.connection.execute(
            insert.values(
                issuer=verified.issuer, subject=verified.subject, user_id=user_id, provider=provider, linked_at=now
            ).on_conflict_do_nothing(index_elements=["issuer", "subject"])
        )
        holder = await self.owner(uow, verified.issuer, verified.subject)
        assert holder is not None  # inserted, or held by the row that conflicted
        return holder

    async def unlink(self, uow: UnitOfWork, issuer: str, subject: str) -> str | None:
        """Remove the identity; the user who held it, or None."""
        statement = (
            delete(identities)
            .where(identities.c.issuer == issuer, identities.c.subject == subject)
            .returning(identities.c.user_id)
        )
        return (await uow.connection.execute(statement)).scalar_one_or_none()

    async def of(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        query = (
            select(identities.c.provider, identities.c.issuer, identities.c.subject, identities.c.linked_at)
            .where(identities.c.user_id == user_id)
            .order_by(identities.c.linked_at, identities.c.provider)
        )
        return cast(list[Row[Any]], list((await uow.connection.execute(query)).all()))

    async def pending_links_of(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        query = select(flows.c.provider, flows.c.expires_at).where(flows.c.user_id == user_id)
        return cast(list[Row[Any]], list((await uow.connection.execute(query)).all()))

    async def erase(self, uow: UnitOfWork, user_id: str) -> None:
        await uow.connection.execute(delete(flows).where(flows.c.user_id == user_id))
        await uow.connection.execute(delete(identities).where(identities.c.user_id == user_id))


def refuse_taken(holder: str, user_id: str) -> None:
    if holder != user_id:
        raise Conflict("this login already belongs to another oO account", code="identity_taken")


def refuse_inactive(active: bool) -> None:
    if not active:
        raise Forbidden("this account is being deleted", code="account_being_deleted")
