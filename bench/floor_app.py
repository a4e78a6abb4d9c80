"""The request benchmark's second baseline: the least any decision does on oO's stack.

FastAPI and oO's kernel `Database` (on the backend oO is measured on: the same engine and options,
one transaction per request committed before the response), and per request only the I/O no decision
can skip: find the caller's token, read their state, append a log row, commit. No features,
candidates, policy or events. What separates this from bare FastAPI is the stack; what separates oO
from this is oO's own work.

Served by uvicorn like the others: `FLOOR_DATA_DIR=… uvicorn bench.floor_app:app` (SQLite, a file in
that directory), or with `FLOOR_DATABASE_URL=postgresql://…` naming an empty database (Postgres);
bearer tokens are `floor_0` … `floor_{USERS - 1}`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from sqlalchemy import Column, MetaData, String, Table, Uuid, bindparam, func, select

from services.jobs import run_periodically
from services.kernel.database import CHECKPOINT_EVERY_SECONDS, Database
from services.kernel.schema import JsonDocument, UtcDateTime
from services.kernel.unit_of_work import UnitOfWork

USERS = 20

metadata = MetaData()
tokens = Table(
    "floor_tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
)
states = Table("floor_states", metadata, Column("user_id", String(64), primary_key=True), Column("state", JsonDocument))
log = Table(
    "floor_log",
    metadata,
    Column("decision_id", Uuid(), primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("snapshot", JsonDocument, nullable=False),
)
_TOKEN = select(tokens).where(tokens.c.token_id == bindparam("token_id"))
_STATE = select(states.c.state).where(states.c.user_id == bindparam("user_id"))
_LOG = log.insert()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = os.environ.get("FLOOR_DATABASE_URL") or f"sqlite:///{os.environ['FLOOR_DATA_DIR']}/floor.sqlite3"
    database = Database(url)
    async with database.transaction() as uow:
        await uow.connection.run_sync(metadata.create_all)
        # A second floor process on the same database (bench.processes) finds its people made.
        made = (await uow.connection.execute(select(func.count()).select_from(tokens))).scalar_one()
        for i in range(USERS if made == 0 else 0):
            user_id = f"usr_floor{i}"
            await uow.connection.execute(
                tokens.insert(), {"token_id": f"floor_{i}", "user_id": user_id, "secret_sha256": _sha256(f"floor_{i}")}
            )
            await uow.connection.execute(states.insert(), {"user_id": user_id, "state": {"energy": 3, "tasks": i}})
    app.state.database = database
    # The kernel's log checkpointer, scheduled as oO's api schedules it: without it the floor's log
    # would take the safety-net checkpoint inside a commit that oO no longer takes (Postgres: a no-op).
    checkpointer = asyncio.create_task(run_periodically(database.checkpoint, CHECKPOINT_EVERY_SECONDS))
    yield
    checkpointer.cancel()
    await asyncio.gather(checkpointer, return_exceptions=True)
    await database.dispose()


async def _unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    async with request.app.state.database.transaction() as uow:
        yield uow


app = FastAPI(lifespan=lifespan)


@app.post("/v1/recommend")
async def recommend(
    uow: Annotated[UnitOfWork, Depends(_unit_of_work, scope="function")], authorization: Annotated[str, Header()]
) -> dict[str, object]:
    token = authorization.removeprefix("Bearer ")
    row = (await uow.connection.execute(_TOKEN, {"token_id": token})).first()
    if row is None or not hmac.compare_digest(row.secret_sha256, _sha256(token)):
        raise HTTPException(401)
    state = (await uow.connection.execute(_STATE, {"user_id": row.user_id})).scalar_one()
    decision_id = uuid.uuid4()
    values = {"decision_id": decision_id, "user_id": row.user_id, "created_at": datetime.now(UTC)}
    await uow.connection.execute(_LOG, {**values, "snapshot": {"state": state}})
    return {"decision_id": str(decision_id), "tip": None, "retry_after": 900}
