"""Local mode has one person, and the database holds it: concurrent first requests make one local user.

Before, the local user was found or created by read-then-insert; after a deletion, ten concurrent first
requests on Postgres made ten active local users, and a second deletion left nine with their data.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from services.auth.tables import auth_users
from services.bootstrap import bootstrap
from services.migrations.runner import upgrade_to_head
from services.recommender.tables import recommender_feature_state
from tests.conftest import empty_postgres_url, make_settings, upgrade_to
from tests.events_factory import checkin


async def active_local_users(container) -> list[str]:
    async with container.database.transaction(write=False) as uow:
        query = select(auth_users.c.user_id).where(auth_users.c.kind == "local", auth_users.c.status == "active")
        return list((await uow.connection.execute(query)).scalars())


async def test_concurrent_first_requests_after_a_deletion_make_one_local_user(client, container):
    assert (await client.delete("/v1/me")).status_code == 202
    assert await active_local_users(container) == []
    writes = [client.post("/v1/events", json={"events": [checkin()]}) for _ in range(10)]
    answers = await asyncio.gather(*writes)
    assert [answer.status_code for answer in answers] == [200] * 10
    [local] = await active_local_users(container)
    assert (await client.get("/v1/me")).json()["user_id"] == local
    assert (await client.delete("/v1/me")).status_code == 202
    assert await active_local_users(container) == []


async def test_the_migration_keeps_the_oldest_local_user_and_the_others_are_erased(tmp_path, backend, request):
    url = None
    if backend == "postgres":
        url = await empty_postgres_url(request.getfixturevalue("postgres_cluster"))
    container = bootstrap(make_settings(tmp_path, url))
    async with container.database.engine.begin() as connection:
        await connection.run_sync(upgrade_to(container.database, "0004"))
        for days, user_id in enumerate(("usr_oldest", "usr_second", "usr_third")):
            at = datetime(2026, 11, 20, tzinfo=UTC) + timedelta(days=days)
            await connection.execute(
                auth_users.insert().values(user_id=user_id, kind="local", status="active", created_at=at)
            )
            await connection.execute(
                recommender_feature_state.insert().values(user_id=user_id, state={}, updated_at=at)
            )
    await upgrade_to_head(container.database)
    assert await active_local_users(container) == ["usr_oldest"]
    assert await container.profile.privacy.resume_pending() == 2
    async with container.database.transaction(write=False) as uow:
        users = (await uow.connection.execute(select(auth_users.c.user_id))).scalars().all()
        states = (await uow.connection.execute(select(recommender_feature_state.c.user_id))).scalars().all()
    await container.database.dispose()
    assert (users, states) == (["usr_oldest"], ["usr_oldest"])
