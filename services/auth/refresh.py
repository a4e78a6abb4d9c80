"""Refresh tokens of API clients: `oo_rt_<token id>_<secret>`, rotated on every use, a reused one
revoking its whole family (RFC 9700 §2.2.2).

A use is one conditional UPDATE: it marks the token used only if it is unused, unrevoked, unexpired
and its secret matches, so two uses racing with one copy cannot both succeed (ADR 0018: the database
decides). The loser finds the token used: that is a reuse, and the family dies with it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.engine import Row

from oo_contracts.identity import Scope
from services.auth.tables import auth_refresh_tokens as refresh
from services.kernel.unit_of_work import UnitOfWork

PREFIX = "oo_rt_"
TOKEN = re.compile(r"^oo_rt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
TOKEN_LIFE = timedelta(days=30)  # unused this long, a client signs in again
FAMILY_LIFE = timedelta(days=90)  # however often used, a family ends: a client signs in again


@dataclass(frozen=True)
class Rotated:
    user_id: str
    scopes: frozenset[Scope]
    refresh_token: str


class RefreshFamilies:
    async def start(self, uow: UnitOfWork, user_id: str, scopes: Iterable[Scope], now: datetime) -> str:
        """A new family, its first token returned (shown once)."""
        return await self._add(uow, secrets.token_hex(16), user_id, sorted(s.value for s in scopes), now, now)

    async def rotate(self, uow: UnitOfWork, token: str, now: datetime) -> Rotated | None:
        """Use the token: its successor, or None. A token used before revokes its family first."""
        match = TOKEN.match(token)
        if match is None:
            return None
        token_id, secret = match.groups()
        used = await uow.connection.execute(
            update(refresh)
            .where(
                refresh.c.token_id == token_id,
                refresh.c.secret_sha256 == _digest(secret),
                refresh.c.used_at.is_(None),
                refresh.c.revoked_at.is_(None),
                refresh.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(refresh.c.family_id, refresh.c.user_id, refresh.c.scopes, refresh.c.family_started_at)
        )
        row = used.first()
        if row is None:
            await self._revoke_if_reused(uow, token_id, secret, now)
            return None
        if row.family_started_at + FAMILY_LIFE <= now:
            return None
        successor = await self._add(uow, row.family_id, row.user_id, list(row.scopes), row.family_started_at, now)
        return Rotated(row.user_id, frozenset(Scope(s) for s in row.scopes), successor)

    async def _revoke_if_reused(self, uow: UnitOfWork, token_id: str, secret: str, now: datetime) -> None:
        query = select(refresh.c.family_id, refresh.c.secret_sha256, refresh.c.used_at).where(
            refresh.c.token_id == token_id
        )
        row = (await uow.connection.execute(query)).first()
        if row is not None and row.used_at is not None and hmac.compare_digest(row.secret_sha256, _digest(secret)):
            await self.revoke_family(uow, row.family_id, now)

    async def revoke_family(self, uow: UnitOfWork, family_id: str, now: datetime) -> None:
        await uow.connection.execute(
            update(refresh)
            .where(refresh.c.family_id == family_id, refresh.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_all_of(self, uow: UnitOfWork, user_id: str, now: datetime) -> None:
        await uow.connection.execute(
            update(refresh).where(refresh.c.user_id == user_id, refresh.c.revoked_at.is_(None)).values(revoked_at=now)
        )

    async def of(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        query = (
            select(refresh.c.family_id, refresh.c.scopes, refresh.c.family_started_at, refresh.c.revoked_at)
            .where(refresh.c.user_id == user_id, refresh.c.used_at.is_(None))
            .order_by(refresh.c.family_started_at)
        )
        return cast(list[Row[Any]], list((await uow.connection.execute(query)).all()))

    async def _add(
        self, uow: UnitOfWork, family_id: str, user_id: str, scopes: list[str], started: datetime, now: datetime
    ) -> str:
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        await uow.connection.execute(
            refresh.insert().values(
                token_id=token_id,
                family_id=family_id,
                user_id=user_id,
                secret_sha256=_digest(secret),
                scopes=scopes,
                family_started_at=started,
                issued_at=now,
                expires_at=min(now + TOKEN_LIFE, started + FAMILY_LIFE),
            )
        )
        return f"{PREFIX}{token_id}_{secret}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
