"""SQL of what connectors keep beside a connection: task marks, OAuth states, webhook deliveries.

None of it holds a provider's text: ids, hashes, times and scopes (ADR 0023).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from services.integrations.tables import (
    integrations_oauth_states as states,
)
from services.integrations.tables import (
    integrations_task_marks as marks,
)
from services.integrations.tables import (
    integrations_webhook_deliveries as deliveries,
)
from services.kernel.unit_of_work import UnitOfWork


def state_hash(state: str) -> str:
    """What is stored of a `state`: its hash, so a read of the table cannot finish someone's flow."""
    return hashlib.sha256(state.encode()).hexdigest()


class TaskMarks:
    async def of(self, uow: UnitOfWork, user_id: str, provider: str) -> dict[str, str]:
        query = select(marks.c.task_id, marks.c.fingerprint).where(
            marks.c.user_id == user_id, marks.c.provider == provider
        )
        return {task_id: fingerprint for task_id, fingerprint in (await uow.connection.execute(query)).all()}

    async def one(self, uow: UnitOfWork, user_id: str, provider: str, task_id: str) -> str | None:
        query = select(marks.c.fingerprint).where(
            marks.c.user_id == user_id, marks.c.provider == provider, marks.c.task_id == task_id
        )
        return (await uow.connection.execute(query)).scalar_one_or_none()

    async def put(self, uow: UnitOfWork, user_id: str, provider: str, changed: Mapping[str, str]) -> None:
        if not changed:
            return
        insert = (postgresql.insert if uow.dialect == "postgresql" else sqlite.insert)(marks)
        statement = insert.values(
            [
                {"user_id": user_id, "provider": provider, "task_id": task_id, "fingerprint": fingerprint}
                for task_id, fingerprint in changed.items()
            ]
        )
        await uow.connection.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "provider", "task_id"], set_={"fingerprint": statement.excluded.fingerprint}
            )
        )

    async def remove(self, uow: UnitOfWork, user_id: str, provider: str, task_ids: Iterable[str]) -> None:
        gone = list(task_ids)
        if gone:
            await uow.connection.execute(
                delete(marks).where(marks.c.user_id == user_id, marks.c.provider == provider, marks.c.task_id.in_(gone))
            )

    async def forget(self, uow: UnitOfWork, user_id: str, provider: str | None = None) -> None:
        statement = delete(marks).where(marks.c.user_id == user_id)
        if provider is not None:
            statement = statement.where(marks.c.provider == provider)
        await uow.connection.execute(statement)

    async def listed(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        query = (
            select(marks.c.provider, marks.c.task_id)
            .where(marks.c.user_id == user_id)
            .order_by(marks.c.provider, marks.c.task_id)
        )
        return cast(list[Row[Any]], list((await uow.connection.execute(query)).all()))


class OAuthStates:
    async def put(
        self,
        uow: UnitOfWork,
        *,
        state: str,
        user_id: str,
        provider: str,
        scopes: Sequence[str],
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await uow.connection.execute(
            states.insert().values(
                state_hash=state_hash(state),
                user_id=user_id,
                provider=provider,
                scopes=list(scopes),
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def take(self, uow: UnitOfWork, state: str, provider: str) -> Row[Any] | None:
        """The state's row, deleted as it is read: a state is good for one callback, whichever comes first."""
        statement = (
            delete(states)
            .where(states.c.state_hash == state_hash(state), states.c.provider == provider)
            .returning(*states.c)
        )
        return (await uow.connection.execute(statement)).first()

    async def prune(self, uow: UnitOfWork, now: datetime) -> None:
        await uow.connection.execute(delete(states).where(states.c.expires_at <= now))

    async def pending(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        query = select(states.c.provider, states.c.created_at, states.c.expires_at).where(states.c.user_id == user_id)
        return cast(list[Row[Any]], list((await uow.connection.execute(query.order_by(states.c.created_at))).all()))

    async def forget(self, uow: UnitOfWork, user_id: str) -> None:
        await uow.connection.execute(delete(states).where(states.c.user_id == user_id))


class WebhookDeliveries:
    async def first_time(self, uow: UnitOfWork, provider: str, delivery_id: str, now: datetime) -> bool:
        """Record the delivery; False if it was taken before (a retry or a replay). The primary key
        decides, never a read before the write (ADR 0018)."""
        insert = (postgresql.insert if uow.dialect == "postgresql" else sqlite.insert)(deliveries)
        statement = insert.values(provider=provider, delivery_id=delivery_id, received_at=now).on_conflict_do_nothing()
        result = await uow.connection.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def prune(self, uow: UnitOfWork, before: datetime) -> None:
        await uow.connection.execute(delete(deliveries).where(deliveries.c.received_at < before))
