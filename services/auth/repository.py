"""All SQL of the auth module.

The statements every authenticated request runs are built once, with bound parameters (building a
statement costs SQLAlchemy more than SQLite takes to run it; bench/recommend.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from services.auth.tables import auth_api_tokens, auth_refresh_tokens, auth_sessions, auth_users
from services.kernel.unit_of_work import UnitOfWork

# The token and its user's status in one round trip, the user's row share-locked (see `user`).
_TOKEN_WITH_USER_STATUS = (
    select(auth_api_tokens, auth_users.c.status.label("user_status"), auth_users.c.role.label("user_role"))
    .join(auth_users, auth_users.c.user_id == auth_api_tokens.c.user_id)
    .where(auth_api_tokens.c.token_id == bindparam("token_id"))
    .with_for_update(read=True, of=auth_users)
)
_ACTIVE_LOCAL_USER = (
    select(auth_users.c.user_id)
    .where(auth_users.c.kind == "local", auth_users.c.status == "active")
    .order_by(auth_users.c.created_at)
    .limit(1)
)
_USER = select(auth_users).where(auth_users.c.user_id == bindparam("user_id"))
# Held until the request commits, so a deletion cannot slip in between the check of the user and the
# rows the request writes for them (Postgres; SQLite serialises writers).
_USER_LOCKED = _USER.with_for_update(read=True)


class AuthRepository:
    async def add_user(self, uow: UnitOfWork, user_id: str, kind: str, created_at: datetime) -> None:
        await uow.connection.execute(
            auth_users.insert().values(user_id=user_id, kind=kind, status="active", created_at=created_at)
        )

    async def set_role(self, uow: UnitOfWork, user_id: str, role: str) -> bool:
        """True when the active user's role changed (False: no such active user, or already that role)."""
        statement = (
            update(auth_users)
            .where(auth_users.c.user_id == user_id, auth_users.c.status == "active", auth_users.c.role != role)
            .values(role=role)
        )
        return bool((await uow.connection.execute(statement)).rowcount)

    async def user(self, uow: UnitOfWork, user_id: str, *, lock: bool = False) -> Row[Any] | None:
        return (await uow.connection.execute(_USER_LOCKED if lock else _USER, {"user_id": user_id})).first()

    async def add_local_user(self, uow: UnitOfWork, user_id: str, created_at: datetime) -> bool:
        """Make the active local user unless one exists (the database's partial unique index decides);
        False when another request made it first."""
        insert = (postgresql.insert if uow.dialect == "postgresql" else sqlite.insert)(auth_users)
        statement = insert.values(user_id=user_id, kind="local", status="active", created_at=created_at)
        where = (auth_users.c.kind == "local") & (auth_users.c.status == "active")
        result = await uow.connection.execute(
            statement.on_conflict_do_nothing(index_elements=["kind"], index_where=where)
        )
        return bool(getattr(result, "rowcount", 0))

    async def users_with_status(self, uow: UnitOfWork, status: str) -> list[str]:
        query = select(auth_users.c.user_id).where(auth_users.c.status == status).order_by(auth_users.c.created_at)
        return list((await uow.connection.execute(query)).scalars())

    async def active_local_user(self, uow: UnitOfWork) -> str | None:
        return (await uow.connection.execute(_ACTIVE_LOCAL_USER)).scalar_one_or_none()

    async def set_status(self, uow: UnitOfWork, user_id: str, status: str) -> None:
        await uow.connection.execute(update(auth_users).where(auth_users.c.user_id == user_id).values(status=status))

    async def add_token(self, uow: UnitOfWork, **values: Any) -> None:
        await uow.connection.execute(auth_api_tokens.insert().values(**values))

    async def token_with_user_status(self, uow: UnitOfWork, token_id: str) -> Row[Any] | None:
        return (await uow.connection.execute(_TOKEN_WITH_USER_STATUS, {"token_id": token_id})).first()

    async def tokens_of(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        query = (
            select(auth_api_tokens)
            .where(auth_api_tokens.c.user_id == user_id)
            .order_by(auth_api_tokens.c.created_at, auth_api_tokens.c.token_id)
        )
        return list((await uow.connection.execute(query)).all())

    async def revoke_token(self, uow: UnitOfWork, token_id: str, at: datetime) -> bool:
        result = await uow.connection.execute(
            update(auth_api_tokens)
            .where(auth_api_tokens.c.token_id == token_id, auth_api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def revoke_tokens_of(self, uow: UnitOfWork, user_id: str, at: datetime) -> None:
        await uow.connection.execute(
            update(auth_api_tokens)
            .where(auth_api_tokens.c.user_id == user_id, auth_api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> bool:
        """A person's identity is a handful of rows: erased at once."""
        await uow.connection.execute(delete(auth_api_tokens).where(auth_api_tokens.c.user_id == user_id))
        await uow.connection.execute(delete(auth_refresh_tokens).where(auth_refresh_tokens.c.user_id == user_id))
        await uow.connection.execute(delete(auth_sessions).where(auth_sessions.c.user_id == user_id))
        await uow.connection.execute(delete(auth_users).where(auth_users.c.user_id == user_id))
        return True
