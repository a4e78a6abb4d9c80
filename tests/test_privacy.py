"""Export validates against the published schema; deletion leaves nothing, even after a crash half-way."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from sqlalchemy import event, inspect, text

from services.bootstrap import Container
from services.kernel.ports import ERASE_CHUNK_ROWS
from tests.conftest import bearer, new_user_with_token, secret_of
from tests.events_factory import checkin, context

SCHEMA = Path(__file__).parents[1] / "packages" / "shared-types" / "schemas" / "account-export.schema.json"


async def user_tables(container: Container) -> list[str]:
    """Every table with a user column, read from the database itself (not from a hand-kept list)."""

    def find(connection) -> list[str]:
        inspector = inspect(connection)
        return sorted(
            table
            for table in inspector.get_table_names()
            if any(column["name"] == "user_id" for column in inspector.get_columns(table))
        )

    async with container.database.engine.connect() as connection:
        return await connection.run_sync(find)


async def rows_of(container: Container, user_id: str) -> dict[str, int]:
    counts = {}
    async with container.database.transaction(write=False) as uow:
        for table in await user_tables(container):
            query = text(f"SELECT count(*) FROM {table} WHERE user_id = :user_id")
            counts[table] = int((await uow.connection.execute(query, {"user_id": user_id})).scalar_one())
    return counts


async def test_every_user_table_has_an_owner_that_exports_and_erases_it(container):
    assert set(await user_tables(container)) == container.profile.privacy.covered_tables


async def test_export_holds_what_the_user_posted_and_validates_against_the_schema(client, container):
    user_id, token = await new_user_with_token(container)
    posted = [checkin(), context()]
    assert (await client.post("/v1/events", json={"events": posted}, headers=bearer(token))).status_code == 200

    response = await client.get("/v1/me/export", headers=bearer(token))
    assert response.status_code == 200
    export = response.json()
    jsonschema.validate(export, json.loads(SCHEMA.read_text()))
    assert export["user_id"] == user_id
    assert {e["id"] for e in export["events"]["events"]} >= {e["id"] for e in posted}
    assert token not in response.text
    assert secret_of(token) not in response.text
    published = await client.get("/v1/schemas/account-export.json")
    assert published.json() == json.loads(SCHEMA.read_text())


async def test_export_holds_nothing_of_another_user(client, container):
    _, token = await new_user_with_token(container)
    other_id, other_token = await new_user_with_token(container)
    await client.post("/v1/events", json={"events": [checkin()]}, headers=bearer(other_token))
    export = (await client.get("/v1/me/export", headers=bearer(token))).json()
    assert other_id not in json.dumps(export)


async def test_deleting_the_account_leaves_no_row_and_kills_the_token(client, container):
    user_id, token = await new_user_with_token(container)
    other_id, other_token = await new_user_with_token(container)
    for t in (token, other_token):
        await client.post("/v1/events", json={"events": [checkin(), context()]}, headers=bearer(t))
    assert any((await rows_of(container, user_id)).values())

    response = await client.delete("/v1/me", headers=bearer(token))
    assert response.status_code == 202
    receipt = response.json()["receipt_id"]
    assert response.json()["requested_at"] is not None

    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401
    assert await rows_of(container, user_id) == dict.fromkeys(await user_tables(container), 0)
    status = await client.get(f"/v1/deletion-receipts/{receipt}")
    assert status.json()["status"] == "completed"
    assert user_id not in status.text
    # The other user is untouched.
    assert (await client.get("/v1/me", headers=bearer(other_token))).status_code == 200
    assert (await rows_of(container, other_id))["events_store"] == 3


class FlakyOwner:
    """A module whose erasure crashes the first time, like a process killed half-way."""

    section = "flaky"
    tables: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.calls = 0

    async def export_user(self, uow, user_id):
        return None

    async def erase_user(self, uow, user_id):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("crash half-way")
        return True


async def test_a_deletion_interrupted_half_way_is_finished_by_the_resumer(client, container):
    user_id, token = await new_user_with_token(container)
    await client.post("/v1/events", json={"events": [checkin()]}, headers=bearer(token))
    flaky = FlakyOwner()
    privacy = container.profile.privacy
    privacy._owners.append(flaky)  # after the events module: events are erased, then the crash
    # Only the resumer below may finish it. A running job worker would too: on Postgres, a worker
    # started within ten minutes after an hour defers that hour's missed `deletion_resume` fan-out.
    await container.jobs.close()

    response = await client.delete("/v1/me", headers=bearer(token))
    assert response.status_code == 202
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401
    half_way = await rows_of(container, user_id)
    assert half_way["events_store"] == 0
    assert half_way["auth_users"] == 1
    assert half_way["profile_deletion_jobs"] == 1
    receipt = response.json()["receipt_id"]
    assert (await client.get(f"/v1/deletion-receipts/{receipt}")).json()["status"] == "pending"

    assert await privacy.resume_pending() == 1
    assert await rows_of(container, user_id) == dict.fromkeys(await user_tables(container), 0)
    assert (await client.get(f"/v1/deletion-receipts/{receipt}")).json()["status"] == "completed"
    # Running it again changes nothing: deletion is idempotent.
    assert await privacy.resume_pending() == 0
    assert flaky.calls == 2


async def test_a_person_with_many_events_is_erased_in_short_transactions_of_a_bounded_share(client, container):
    user_id, token = await new_user_with_token(container)
    count = 2 * ERASE_CHUNK_ROWS + 3
    for start in range(0, count, 500):  # the API's batch limit
        batch = [checkin() for _ in range(min(500, count - start))]
        assert (await client.post("/v1/events", json={"events": batch}, headers=bearer(token))).status_code == 200
    stored = (await rows_of(container, user_id))["events_store"]
    assert stored > 2 * ERASE_CHUNK_ROWS
    erased: list[int] = []

    def count_erased(_conn, _cursor, statement, _parameters, _context, _many):
        if statement.startswith("DELETE FROM events_store"):
            erased.append(-1)  # a statement; its rows are read back below

    def rows_erased(conn, _cursor, statement, _parameters, context, _many):
        if statement.startswith("DELETE FROM events_store"):
            erased[-1] = context.rowcount

    engine = container.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count_erased)
    event.listen(engine, "after_cursor_execute", rows_erased)
    try:
        assert (await client.delete("/v1/me", headers=bearer(token))).status_code == 202
    finally:
        event.remove(engine, "before_cursor_execute", count_erased)
        event.remove(engine, "after_cursor_execute", rows_erased)
    assert erased == [ERASE_CHUNK_ROWS, ERASE_CHUNK_ROWS, stored - 2 * ERASE_CHUNK_ROWS]
    assert await rows_of(container, user_id) == dict.fromkeys(await user_tables(container), 0)


async def test_deleting_a_user_that_is_gone_is_a_no_op(container):
    user_id, _ = await new_user_with_token(container)
    privacy = container.profile.privacy
    async with container.database.transaction() as uow:
        assert await privacy.request_deletion(uow, user_id) is not None
    async with container.database.transaction() as uow:
        assert await privacy.request_deletion(uow, user_id) is None


async def test_local_user_can_delete_itself_and_a_fresh_one_takes_its_place(client, container):
    first = (await client.get("/v1/me")).json()["user_id"]
    await client.post("/v1/events", json={"events": [checkin()]})
    assert (await client.delete("/v1/me")).status_code == 202
    assert await rows_of(container, first) == dict.fromkeys(await user_tables(container), 0)
    second = (await client.get("/v1/me")).json()["user_id"]
    assert second != first


async def test_a_receipt_id_that_is_not_a_uuid_is_refused_as_invalid(client):
    # The contract declares the id a UUID: like every malformed input, it is a 422 naming the part.
    response = await client.get("/v1/deletion-receipts/not-a-uuid")
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], [item["field"] for item in error["items"]]) == ("invalid_request", ["path.receipt_id"])


async def test_a_receipt_id_no_deletion_issued_is_not_found(client):
    response = await client.get("/v1/deletion-receipts/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "receipt_not_found"
