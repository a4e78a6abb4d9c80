"""All SQL of the recommender module."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from services.kernel.unit_of_work import UnitOfWork
from services.recommender.tables import (
    recommender_decisions,
    recommender_feature_state,
    recommender_llm_cache,
    recommender_policy_state,
)


def _upsert(uow: UnitOfWork, table: Any, values: dict[str, Any]) -> Any:
    insert = postgresql.insert if uow.dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    return statement.on_conflict_do_update(
        index_elements=["user_id"], set_={k: v for k, v in values.items() if k != "user_id"}
    )


class RecommenderRepository:
    async def feature_state(self, uow: UnitOfWork, user_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = select(recommender_feature_state.c.state).where(recommender_feature_state.c.user_id == user_id)
        if lock:
            query = query.with_for_update()
        state: dict[str, Any] | None = (await uow.session.execute(query)).scalar_one_or_none()
        return state

    async def feature_state_and_llm_cache(
        self, uow: UnitOfWork, user_id: str, *, with_cache: bool
    ) -> tuple[dict[str, Any] | None, Row[Any] | None]:
        """The feature state and the LLM cache row in one statement (the request path counts them)."""
        if not with_cache:
            return await self.feature_state(uow, user_id), None
        state, cache = recommender_feature_state, recommender_llm_cache
        query = (
            select(state.c.state, cache)
            .select_from(state.outerjoin(cache, cache.c.user_id == state.c.user_id))
            .where(state.c.user_id == user_id)
        )
        row = (await uow.session.execute(query)).first()
        if row is None:
            return None, None
        return row.state, (row if row.user_id is not None else None)

    async def save_feature_state(self, uow: UnitOfWork, user_id: str, state: dict[str, Any], at: datetime) -> None:
        await uow.session.execute(
            _upsert(uow, recommender_feature_state, {"user_id": user_id, "state": state, "updated_at": at})
        )

    async def policy_state(self, uow: UnitOfWork, user_id: str, *, lock: bool = False) -> Row[Any] | None:
        query = select(recommender_policy_state).where(recommender_policy_state.c.user_id == user_id)
        if lock:
            query = query.with_for_update()
        return (await uow.session.execute(query)).first()

    async def save_policy_state(
        self, uow: UnitOfWork, user_id: str, version: str, observations: int, state: dict[str, Any], at: datetime
    ) -> None:
        values = {
            "user_id": user_id,
            "policy_version": version,
            "observations": observations,
            "state": state,
            "updated_at": at,
        }
        await uow.session.execute(_upsert(uow, recommender_policy_state, values))

    async def add_decision(self, uow: UnitOfWork, **values: Any) -> None:
        await uow.session.execute(recommender_decisions.insert().values(**values))

    async def decision(self, uow: UnitOfWork, decision_id: UUID, *, lock: bool = False) -> Row[Any] | None:
        query = select(recommender_decisions).where(recommender_decisions.c.decision_id == decision_id)
        if lock:
            query = query.with_for_update()
        return (await uow.session.execute(query)).first()

    async def pending_decision(self, uow: UnitOfWork, user_id: str, since: datetime) -> Row[Any] | None:
        """The newest decision since `since` that showed a tip nobody has reacted to yet."""
        query = (
            select(recommender_decisions)
            .where(
                recommender_decisions.c.user_id == user_id,
                recommender_decisions.c.created_at >= since,
                recommender_decisions.c.chosen.is_not(None),
                recommender_decisions.c.reaction.is_(None),
            )
            .order_by(recommender_decisions.c.created_at.desc())
            .limit(1)
        )
        return (await uow.session.execute(query)).first()

    async def record_reaction(
        self, uow: UnitOfWork, decision_id: UUID, reaction: str, reason: str | None, at: datetime
    ) -> bool:
        result = await uow.session.execute(
            update(recommender_decisions)
            .where(recommender_decisions.c.decision_id == decision_id, recommender_decisions.c.reaction.is_(None))
            .values(reaction=reaction, reason=reason, reacted_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def decisions_of(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        query = (
            select(recommender_decisions)
            .where(recommender_decisions.c.user_id == user_id)
            .order_by(recommender_decisions.c.created_at)
        )
        return list((await uow.session.execute(query)).all())

    async def dismissed_texts(self, uow: UnitOfWork, user_id: str, limit: int) -> list[str]:
        """The texts of the tips this person most recently dismissed."""
        query = (
            select(recommender_decisions.c.candidates, recommender_decisions.c.chosen)
            .where(recommender_decisions.c.user_id == user_id, recommender_decisions.c.reaction == "dismiss")
            .order_by(recommender_decisions.c.reacted_at.desc())
            .limit(limit)
        )
        rows = (await uow.session.execute(query)).all()
        return [c["text"] for row in rows for c in row.candidates if c["candidate_id"] == row.chosen]

    async def llm_cache(self, uow: UnitOfWork, user_id: str) -> Row[Any] | None:
        query = select(recommender_llm_cache).where(recommender_llm_cache.c.user_id == user_id)
        return (await uow.session.execute(query)).first()

    async def save_llm_cache(self, uow: UnitOfWork, **values: Any) -> None:
        await uow.session.execute(_upsert(uow, recommender_llm_cache, values))

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> None:
        tables = (recommender_decisions, recommender_feature_state, recommender_policy_state, recommender_llm_cache)
        for table in tables:
            await uow.session.execute(delete(table).where(table.c.user_id == user_id))
