"""All SQL of the recommender module.

The statements on the path of every decision are built once, with bound parameters: building a
statement and its cache key cost SQLAlchemy more than SQLite takes to run it (bench/recommend.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import BindParameter

from oo_contracts.recommendation import OpaqueState
from services.kernel.ports import ERASE_CHUNK_ROWS
from services.kernel.unit_of_work import UnitOfWork
from services.recommender.tables import (
    recommender_decisions,
    recommender_feature_state,
    recommender_llm_cache,
    recommender_policy_state,
)

_USER: BindParameter[str] = bindparam("user_id")
_FEATURE_STATE = select(recommender_feature_state.c.state).where(recommender_feature_state.c.user_id == _USER)
_FEATURE_STATE_LOCKED = _FEATURE_STATE.with_for_update()
# The row alone: a lock that parses no state (a person with dozens of tasks has a large one).
_FEATURE_ROW_LOCKED = (
    select(recommender_feature_state.c.user_id).where(recommender_feature_state.c.user_id == _USER).with_for_update()
)
_POLICY_STATE = select(recommender_policy_state).where(recommender_policy_state.c.user_id == _USER)
_DECISIONS = recommender_decisions
_ADD_DECISION = _DECISIONS.insert()
# The answer on show needs neither the decision's context nor its effects: the largest JSON it holds.
_SHOWN_COLUMNS = ("decision_id", "created_at", "policy_version", "candidates", "chosen", "reaction")
_LATEST_ID = (
    select(_DECISIONS.c.decision_id)
    .where(_DECISIONS.c.user_id == _USER)
    .order_by(_DECISIONS.c.created_at.desc())
    .limit(1)
    .scalar_subquery()
)
_LATEST_DECISION = select(*(_DECISIONS.c[name] for name in _SHOWN_COLUMNS)).where(
    _DECISIONS.c.decision_id == _LATEST_ID
)


_ERASE_DECISIONS = delete(_DECISIONS).where(
    _DECISIONS.c.decision_id.in_(
        select(_DECISIONS.c.decision_id).where(_DECISIONS.c.user_id == _USER).limit(bindparam("chunk"))
    )
)


_DECISION_VALUES = (
    "decision_id",
    "user_id",
    "created_at",
    "policy_version",
    "candidates",
    "chosen",
    "propensity",
    "context",
    "shadow",
    "effects",
)


def _guarded_insert(*, after_one: bool) -> Any:
    """Insert a decision only if no other was recorded since the one its snapshot saw: the check and the
    write in one statement. (SQLite's writer lock, or the feature row's lock on Postgres, keeps a third
    decision from slipping in between.)"""
    seen_at, seen_id = (
        bindparam("seen_at", type_=_DECISIONS.c.created_at.type),
        bindparam("seen_id", type_=_DECISIONS.c.decision_id.type),
    )
    others = _DECISIONS.c.user_id == bindparam("user_id", type_=_DECISIONS.c.user_id.type)
    if after_one:
        newer = (_DECISIONS.c.created_at > seen_at) | (
            (_DECISIONS.c.created_at == seen_at) & (_DECISIONS.c.decision_id != seen_id)
        )
        others = others & newer
    values = select(*(bindparam(c.name, type_=c.type) for c in _DECISIONS.c if c.name in _DECISION_VALUES))
    return _DECISIONS.insert().from_select(_DECISION_VALUES, values.where(~exists().where(others)))


_ADD_DECISION_AFTER = {after_one: _guarded_insert(after_one=after_one) for after_one in (False, True)}


def _decision_inputs(with_cache: bool) -> Any:
    features, policy, cache = recommender_feature_state, recommender_policy_state, recommender_llm_cache
    joined = features.outerjoin(policy, policy.c.user_id == features.c.user_id).outerjoin(
        _DECISIONS, _DECISIONS.c.decision_id == _LATEST_ID
    )
    columns: list[Any] = [features.c.state, features.c.updated_at, policy.c.state.label("policy_state")]
    columns += [_DECISIONS.c[name].label(f"shown_{name}") for name in _SHOWN_COLUMNS]
    if with_cache:
        joined = joined.outerjoin(cache, cache.c.user_id == features.c.user_id)
        columns += [cache.c.user_id.label("cache_user_id"), *(c for c in cache.c if c.name != "user_id")]
    return select(*columns).select_from(joined).where(features.c.user_id == _USER)


_DECISION_INPUTS = {with_cache: _decision_inputs(with_cache) for with_cache in (False, True)}


def _reaction_inputs() -> Any:
    # The decision, and its person's feature state (for their consent) and policy, in one statement.
    features, policy = recommender_feature_state, recommender_policy_state
    joined = _DECISIONS.outerjoin(features, features.c.user_id == _DECISIONS.c.user_id).outerjoin(
        policy, policy.c.user_id == _DECISIONS.c.user_id
    )
    columns = [
        *_DECISIONS.c,
        features.c.state.label("feature_state"),
        policy.c.observations.label("policy_observations"),
        policy.c.state.label("policy_state"),
    ]
    return select(*columns).select_from(joined).where(_DECISIONS.c.decision_id == bindparam("decision_id"))


_REACTION_INPUTS = _reaction_inputs()
_DELETE_LLM_CACHE = delete(recommender_llm_cache).where(recommender_llm_cache.c.user_id == _USER)
_DELETE_POLICY_STATE = delete(recommender_policy_state).where(recommender_policy_state.c.user_id == _USER)


def _upsert_statement(dialect: str, table: Any) -> Any:
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_update(
        index_elements=["user_id"], set_={c.name: statement.excluded[c.name] for c in table.c if c.name != "user_id"}
    )


_UPSERTS = {
    (dialect, table.name): _upsert_statement(dialect, table)
    for dialect in ("postgresql", "sqlite")
    for table in (recommender_feature_state, recommender_policy_state, recommender_llm_cache)
}


def _upsert(uow: UnitOfWork, table: Any) -> Any:
    return _UPSERTS[(uow.dialect, table.name)]


@dataclass(frozen=True)
class ShownDecision:
    """A decision as the answer on show: what it showed and whether the person reacted."""

    decision_id: UUID
    created_at: datetime
    policy_version: str
    candidates: list[dict[str, Any]]
    chosen: str | None
    reaction: str | None


def _shown(row: Row[Any] | None, prefix: str = "") -> ShownDecision | None:
    if row is None or getattr(row, f"{prefix}decision_id") is None:
        return None
    return ShownDecision(**{name: getattr(row, f"{prefix}{name}") for name in _SHOWN_COLUMNS})


@dataclass(frozen=True)
class DecisionInputs:
    """What a decision reads, in one statement: the feature state, the policy's, the LLM cache row and
    the person's latest decision."""

    feature_state: OpaqueState | None
    policy_state: OpaqueState | None
    llm_cache: Row[Any] | None
    latest: ShownDecision | None
    feature_updated_at: datetime | None = None  # when the person's last signal was folded in


class RecommenderRepository:
    async def feature_state(self, uow: UnitOfWork, user_id: str, *, lock: bool = False) -> OpaqueState | None:
        query = _FEATURE_STATE_LOCKED if lock else _FEATURE_STATE
        state: OpaqueState | None = (await uow.connection.execute(query, {"user_id": user_id})).scalar_one_or_none()
        return state

    async def decision_inputs(self, uow: UnitOfWork, user_id: str, *, with_cache: bool) -> DecisionInputs:
        """The feature state, the policy state, the latest decision and (when asked) the LLM cache row, in
        one statement."""
        row = (await uow.connection.execute(_DECISION_INPUTS[with_cache], {"user_id": user_id})).first()
        if row is None:  # the join starts from the feature state; without one, read the rest alone
            policy = await self.policy_state(uow, user_id)
            latest = await self.latest_decision(uow, user_id)
            return DecisionInputs(None, policy.state if policy else None, None, latest)
        cache = row if with_cache and row.cache_user_id is not None else None
        return DecisionInputs(row.state, row.policy_state, cache, _shown(row, "shown_"), row.updated_at)

    async def save_feature_state(self, uow: UnitOfWork, user_id: str, state: OpaqueState, at: datetime) -> None:
        values = {"user_id": user_id, "state": state, "updated_at": at}
        await uow.connection.execute(_upsert(uow, recommender_feature_state), values)

    async def policy_state(self, uow: UnitOfWork, user_id: str) -> Row[Any] | None:
        return (await uow.connection.execute(_POLICY_STATE, {"user_id": user_id})).first()

    async def replace_policy_state(
        self,
        uow: UnitOfWork,
        user_id: str,
        version: str,
        seen_observations: int | None,
        state: OpaqueState,
        at: datetime,
    ) -> bool:
        """Store a policy learnt from the state that had `seen_observations` (None: no state yet), only
        if that is still the stored one; False when another reaction moved it meanwhile."""
        values = {"policy_version": version, "state": state, "updated_at": at}
        if seen_observations is None:
            insert = (postgresql.insert if uow.dialect == "postgresql" else sqlite.insert)(recommender_policy_state)
            statement: Any = insert.values(user_id=user_id, observations=1, **values).on_conflict_do_nothing()
        else:
            statement = (
                update(recommender_policy_state)
                .where(
                    recommender_policy_state.c.user_id == user_id,
                    recommender_policy_state.c.observations == seen_observations,
                )
                .values(observations=seen_observations + 1, **values)
            )
        result = await uow.connection.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def add_decision(self, uow: UnitOfWork, **values: Any) -> None:
        await uow.connection.execute(_ADD_DECISION, values)

    async def add_decision_after(self, uow: UnitOfWork, seen: ShownDecision | None, **values: Any) -> bool:
        """Record a decision unless another was recorded after `seen` (the latest its snapshot saw, None
        for none); False, writing nothing, when one was."""
        guard = {} if seen is None else {"seen_at": seen.created_at, "seen_id": seen.decision_id}
        result = await uow.connection.execute(_ADD_DECISION_AFTER[seen is not None], {**values, **guard})
        return bool(getattr(result, "rowcount", 0))

    async def reaction_inputs(self, uow: UnitOfWork, decision_id: UUID) -> Row[Any] | None:
        """The decision with its person's feature state (`feature_state`) and policy (`policy_state`,
        `policy_observations`; null without one), in one statement; None for an unknown decision."""
        return (await uow.connection.execute(_REACTION_INPUTS, {"decision_id": decision_id})).first()

    async def delete_llm_cache(self, uow: UnitOfWork, user_id: str) -> None:
        await uow.connection.execute(_DELETE_LLM_CACHE, {"user_id": user_id})

    async def delete_policy_state(self, uow: UnitOfWork, user_id: str) -> None:
        await uow.connection.execute(_DELETE_POLICY_STATE, {"user_id": user_id})

    async def decision(self, uow: UnitOfWork, decision_id: UUID) -> Row[Any] | None:
        query = select(recommender_decisions).where(recommender_decisions.c.decision_id == decision_id)
        return (await uow.connection.execute(query)).first()

    async def latest_decision(self, uow: UnitOfWork, user_id: str) -> ShownDecision | None:
        """The person's newest decision (the answer on show, unless reacted to), without its context."""
        return _shown((await uow.connection.execute(_LATEST_DECISION, {"user_id": user_id})).first())

    async def lock_feature_row(self, uow: UnitOfWork, user_id: str) -> None:
        """Lock the person's feature row for the rest of `uow`. On SQLite a write transaction already holds
        the database's one writer lock (BEGIN IMMEDIATE), and the statement would only cost time."""
        if uow.dialect != "sqlite":
            await uow.connection.execute(_FEATURE_ROW_LOCKED, {"user_id": user_id})

    async def record_reaction(
        self, uow: UnitOfWork, decision_id: UUID, reaction: str, reason: str | None, at: datetime
    ) -> bool:
        result = await uow.connection.execute(
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
        return list((await uow.connection.execute(query)).all())

    async def dismissed_texts(self, uow: UnitOfWork, user_id: str, limit: int) -> list[str]:
        """The texts of the tips this person most recently dismissed."""
        query = (
            select(recommender_decisions.c.candidates, recommender_decisions.c.chosen)
            .where(recommender_decisions.c.user_id == user_id, recommender_decisions.c.reaction == "dismiss")
            .order_by(recommender_decisions.c.reacted_at.desc())
            .limit(limit)
        )
        rows = (await uow.connection.execute(query)).all()
        return [c["text"] for row in rows for c in row.candidates if c["candidate_id"] == row.chosen]

    async def llm_cache(self, uow: UnitOfWork, user_id: str) -> Row[Any] | None:
        query = select(recommender_llm_cache).where(recommender_llm_cache.c.user_id == user_id)
        return (await uow.connection.execute(query)).first()

    async def save_llm_cache(self, uow: UnitOfWork, **values: Any) -> None:
        await uow.connection.execute(_upsert(uow, recommender_llm_cache), values)

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> bool:
        """At most `ERASE_CHUNK_ROWS` of the user's decisions, then the one-row tables; True once all are gone."""
        result = await uow.connection.execute(_ERASE_DECISIONS, {"user_id": user_id, "chunk": ERASE_CHUNK_ROWS})
        if getattr(result, "rowcount", 0) >= ERASE_CHUNK_ROWS:
            return False
        for table in (recommender_feature_state, recommender_policy_state, recommender_llm_cache):
            await uow.connection.execute(delete(table).where(table.c.user_id == user_id))
        return True
