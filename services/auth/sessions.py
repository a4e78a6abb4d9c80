"""The page's sessions: server-side, revocable, the cookie's secret kept only as its SHA-256.

A session ends when revoked (sign-out, sign-out everywhere, a new login in the same browser, account
deletion), when unused for the idle timeout, or at its absolute end, whichever comes first. Every check
reads the clock given here, so tests move time instead of sleeping.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Row

from services.auth.tables import auth_sessions as sessions
from services.auth.tables import auth_users
from services.kernel.unit_of_work import UnitOfWork

# `secrets.token_urlsafe(32)`: 256 bits, 43 URL-safe characters; anything else is no session of oO's.
SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")
SESSION_ID = re.compile(r"^ses_[0-9a-f]{24}$")
# Seen this recently, a session's `last_seen_at` is not written again: one write a minute at most.
TOUCH_EVERY = timedelta(seconds=60)

Clock = Callable[[], datetime]

_SESSION_WITH_USER = (
    select(sessions, auth_users.c.status.label("user_status"), auth_users.c.role.label("user_role"))
    .join(auth_users, auth_users.c.user_id == sessions.c.user_id)
    .where(sessions.c.secret_sha256 == bindparam("digest"))
    .with_for_update(read=True, of=auth_users)
)


def now_utc() -> datetime:
    return datetime.now(UTC)


def new_secret() -> str:
    """A session's secret: 256 bits from the operating system's CSPRNG."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    session_id: str
    secret: str  # for the cookie alone: never stored, never logged
    max_age: int


@dataclass(frozen=True)
class LiveSession:
    session_id: str
    user_id: str
    touch_due: bool
    role: str = "member"


def device_label(user_agent: str | None) -> str:
    """A coarse label for the list of sessions ("Chrome on Android"): enough to recognise one's own
    devices, too little to fingerprint anyone; the User-Agent itself is not kept."""
    ua = user_agent or ""
    browser = next(
        (
            name
            for token, name in (
                ("Edg/", "Edge"),
                ("Firefox/", "Firefox"),
                ("Chromium/", "Chromium"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
            )
            if token in ua
        ),
        "A browser",
    )
    system = next(
        (
            name
            for token, name in (
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Windows", "Windows"),
                ("Mac OS X", "macOS"),
                ("CrOS", "ChromeOS"),
                ("Linux", "Linux"),
            )
            if token in ua
        ),
        None,
    )
    return browser if system is None else f"{browser} on {system}"


class Sessions:
    def __init__(self, *, idle_seconds: int, absolute_seconds: int, clock: Clock = now_utc) -> None:
        self.idle = timedelta(seconds=idle_seconds)
        self.absolute = timedelta(seconds=absolute_seconds)
        self.clock = clock

    async def start(
        self, uow: UnitOfWork, user_id: str, *, user_agent: str | None, replacing: str | None
    ) -> NewSession:
        """A new session; the one the browser held (`replacing`, its secret) ends here: the id rotates."""
        now = self.clock()
        if replacing is not None:
            await self.end(uow, replacing)
        session_id, secret = f"ses_{secrets.token_hex(12)}", new_secret()
        await uow.connection.execute(
            sessions.insert().values(
                session_id=session_id,
                secret_sha256=digest(secret),
                user_id=user_id,
                device=device_label(user_agent),
                created_at=now,
                last_seen_at=now,
                expires_at=now + self.absolute,
                revoked_at=None,
            )
        )
        return NewSession(session_id, secret, int(self.absolute.total_seconds()))

    async def live(self, uow: UnitOfWork, secret: str) -> LiveSession | None:
        """The session the secret opens, if it still may: not revoked, not idle too long, not past its
        end, its person active (their row share-locked, as a token's lookup does)."""
        if not SECRET.match(secret):
            return None
        row = (await uow.connection.execute(_SESSION_WITH_USER, {"digest": digest(secret)})).first()
        now = self.clock()
        if row is None or row.revoked_at is not None or row.user_status != "active":
            return None
        if now >= row.expires_at or now >= row.last_seen_at + self.idle:
            return None
        return LiveSession(
            row.session_id, row.user_id, touch_due=now - row.last_seen_at >= TOUCH_EVERY, role=row.user_role
        )

    async def touch(self, uow: UnitOfWork, secret: str) -> None:
        await uow.connection.execute(
            update(sessions)
            .where(sessions.c.secret_sha256 == digest(secret), sessions.c.revoked_at.is_(None))
            .values(last_seen_at=self.clock())
        )

    async def end(self, uow: UnitOfWork, secret: str) -> bool:
        if not SECRET.match(secret):
            return False
        result = await uow.connection.execute(
            update(sessions)
            .where(sessions.c.secret_sha256 == digest(secret), sessions.c.revoked_at.is_(None))
            .values(revoked_at=self.clock())
        )
        return bool(getattr(result, "rowcount", 0))

    async def end_one(self, uow: UnitOfWork, user_id: str, session_id: str) -> bool:
        result = await uow.connection.execute(
            update(sessions)
            .where(
                sessions.c.session_id == session_id,
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
            )
            .values(revoked_at=self.clock())
        )
        return bool(getattr(result, "rowcount", 0))

    async def end_all_of(self, uow: UnitOfWork, user_id: str) -> None:
        await uow.connection.execute(
            update(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=self.clock())
        )

    async def live_of(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        now = self.clock()
        query = (
            select(sessions)
            .where(
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
                sessions.c.last_seen_at > now - self.idle,
            )
            .order_by(sessions.c.created_at, sessions.c.session_id)
        )
        return list((await uow.connection.execute(query)).all())

    async def all_of(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        query = select(sessions).where(sessions.c.user_id == user_id).order_by(sessions.c.created_at)
        return list((await uow.connection.execute(query)).all())
