"""A person's connections to providers, on SQLite and Postgres: one row per (person, provider), its
tokens only ever stored as vault ciphertext bound to their row and column, exported without a token,
and deleted (then revoked at the provider) with the account. reference/security.md D02, D05, E03, E04.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select, text, update

from services.bootstrap import Container
from services.integrations.api import ProviderTokens
from services.integrations.tables import integrations_connections
from services.kernel.vault import SealedValueRefused
from tests.conftest import bearer, new_user_with_token

ENVELOPE = re.compile(r"v1\.([A-Za-z0-9_-]{1,32})\.[A-Za-z0-9_-]+")
SEALED = ("access_token_sealed", "refresh_token_sealed")


class FakeRevoker:
    """A provider's revocation endpoint: records what it was asked to revoke, and whether oO still held
    the connection at that moment."""

    def __init__(self, container: Container, provider: str) -> None:
        self.container = container
        self.provider = provider
        self.revoked: list[tuple[ProviderTokens, bool]] = []
        self.user_id = ""

    async def revoke(self, tokens: ProviderTokens) -> None:
        async with self.container.database.transaction(write=False) as uow:
            held = await self.container.integrations.connections.connection(uow, self.user_id, self.provider)
        self.revoked.append((tokens, held is not None))


async def connect(container: Container, user_id: str, provider: str, tokens: ProviderTokens) -> None:
    async with container.database.transaction() as uow:
        await container.integrations.connections.connect(uow, user_id, provider, tokens)


async def tokens_of(container: Container, user_id: str, provider: str) -> ProviderTokens | None:
    async with container.database.transaction(write=False) as uow:
        return await container.integrations.connections.tokens(uow, user_id, provider)


async def rows(container: Container, user_id: str | None = None) -> list:
    query = select(integrations_connections)
    if user_id is not None:
        query = query.where(integrations_connections.c.user_id == user_id)
    async with container.database.transaction(write=False) as uow:
        return list((await uow.connection.execute(query)).all())


async def set_column(container: Container, user_id: str, column: str, value: str) -> None:
    table = integrations_connections
    async with container.database.transaction() as uow:
        await uow.connection.execute(update(table).where(table.c.user_id == user_id).values({column: value}))


async def test_tokens_are_stored_sealed_and_open_to_what_was_given(container):
    given = ProviderTokens("access-1f2e", "refresh-3d4c", scopes=("data:read",))
    await connect(container, "usr_a", "todoist", given)

    assert await tokens_of(container, "usr_a", "todoist") == given
    [row] = await rows(container, "usr_a")
    for column, plaintext in zip(SEALED, ("access-1f2e", "refresh-3d4c"), strict=True):
        assert plaintext not in row._mapping[column]
    assert (row.status, row.scopes) == ("connected", ["data:read"])
    assert await tokens_of(container, "usr_a", "calendar") is None
    assert "access-1f2e" not in repr(given)


async def test_every_stored_ciphertext_names_the_key_its_row_names(container):
    await connect(container, "usr_a", "todoist", ProviderTokens("a1", "r1"))
    await connect(container, "usr_a", "calendar", ProviderTokens("a2"))  # a provider without refresh tokens
    await connect(container, "usr_b", "todoist", ProviderTokens("a3", "r3"))
    held = container.keyring.keyring().key_ids
    found = await rows(container)
    assert len(found) == 3
    for row in found:
        for column in SEALED:
            value = row._mapping[column]
            if value is None:
                assert column == "refresh_token_sealed"
                continue
            match = ENVELOPE.fullmatch(value)
            assert match, f"{column} holds no envelope with a key id"
            assert match.group(1) == row.key_id
            assert row.key_id in held


async def test_a_token_copied_to_another_persons_row_is_refused(container):
    await connect(container, "usr_a", "todoist", ProviderTokens("alices-token"))
    await connect(container, "usr_b", "todoist", ProviderTokens("bobs-token"))
    [alice] = await rows(container, "usr_a")
    await set_column(container, "usr_b", "access_token_sealed", alice.access_token_sealed)

    with pytest.raises(SealedValueRefused) as refused:
        await tokens_of(container, "usr_b", "todoist")
    assert "alices-token" not in str(refused.value)
    assert (await tokens_of(container, "usr_a", "todoist")) == ProviderTokens("alices-token")


async def test_a_token_moved_to_another_column_is_refused(container):
    await connect(container, "usr_a", "todoist", ProviderTokens("access", "refresh"))
    [row] = await rows(container, "usr_a")
    await set_column(container, "usr_a", "refresh_token_sealed", row.access_token_sealed)
    with pytest.raises(SealedValueRefused):
        await tokens_of(container, "usr_a", "todoist")


async def test_concurrent_first_connections_of_a_person_to_a_provider_make_one_row(container):
    given = [ProviderTokens(f"access-{i}", f"refresh-{i}") for i in range(10)]
    await asyncio.gather(*(connect(container, "usr_a", "todoist", tokens) for tokens in given))
    assert len(await rows(container, "usr_a")) == 1
    assert await tokens_of(container, "usr_a", "todoist") in given


async def test_a_broken_link_shows_as_not_connected_until_the_person_connects_again(container):
    connections = container.integrations.connections
    await connect(container, "usr_a", "todoist", ProviderTokens("old"))
    async with container.database.transaction() as uow:
        assert await connections.mark_broken(uow, "usr_a", "todoist")
        broken = await connections.connection(uow, "usr_a", "todoist")
        assert broken is not None
        assert not broken.connected
    await connect(container, "usr_a", "todoist", ProviderTokens("new", "refresh"))
    async with container.database.transaction() as uow:
        [connection] = await connections.connections(uow, "usr_a")
        assert connection.connected
        assert await connections.store_refreshed(uow, "usr_a", "todoist", ProviderTokens("newer", "refresh-2"))
    assert (await tokens_of(container, "usr_a", "todoist")) == ProviderTokens("newer", "refresh-2")


async def test_the_export_shows_a_connection_never_a_token(client, container):
    user_id, token = await new_user_with_token(container)
    await connect(container, user_id, "todoist", ProviderTokens("access-9a8b", "refresh-7c6d", scopes=("data:read",)))
    [row] = await rows(container, user_id)

    response = await client.get("/v1/me/export", headers=bearer(token))
    assert response.status_code == 200
    [record] = response.json()["integrations"]["connections"]
    assert set(record) == {
        "provider",
        "connected",
        "scopes",
        "connected_at",
        "account_id",
        "last_synced_at",
        "sync_error",
    }
    assert (record["provider"], record["connected"], record["scopes"]) == ("todoist", True, ["data:read"])
    for secret in ("access-9a8b", "refresh-7c6d", row.access_token_sealed, row.refresh_token_sealed, row.key_id):
        assert secret not in response.text


async def test_deleting_the_account_deletes_its_connections_then_revokes_each_grant(client, container):
    user_id, token = await new_user_with_token(container)
    other_id, _ = await new_user_with_token(container)
    revoker = FakeRevoker(container, "todoist")
    revoker.user_id = user_id
    container.integrations.revokers["todoist"] = revoker
    await connect(container, user_id, "todoist", ProviderTokens("access-1", "refresh-1"))
    await connect(container, user_id, "calendar", ProviderTokens("access-2"))  # no revoker: deleted all the same
    await connect(container, other_id, "todoist", ProviderTokens("access-3"))

    assert (await client.delete("/v1/me", headers=bearer(token))).status_code == 202
    assert await rows(container, user_id) == []
    assert revoker.revoked == [(ProviderTokens("access-1", "refresh-1"), False)]  # revoked once oO held it no more
    assert len(await rows(container, other_id)) == 1


async def test_disconnecting_deletes_the_connection_then_revokes_its_grant(container):
    revoker = FakeRevoker(container, "todoist")
    revoker.user_id = "usr_a"
    container.integrations.revokers["todoist"] = revoker
    await connect(container, "usr_a", "todoist", ProviderTokens("access-1"))
    async with container.database.transaction() as uow:
        assert await container.integrations.connections.disconnect(uow, "usr_a", "todoist")
        assert revoker.revoked == []  # not while the transaction is open
    assert revoker.revoked == [(ProviderTokens("access-1"), False)]
    async with container.database.transaction() as uow:
        assert not await container.integrations.connections.disconnect(uow, "usr_a", "todoist")
    assert len(revoker.revoked) == 1


async def test_a_provider_name_is_checked(container):
    with pytest.raises(ValueError, match="provider"):
        await connect(container, "usr_a", "Todoist; DROP", ProviderTokens("a"))
    async with container.database.transaction(write=False) as uow:
        count = (await uow.connection.execute(text("SELECT count(*) FROM integrations_connections"))).scalar_one()
    assert count == 0


async def test_a_failed_refresh_marks_the_connection_stale_and_keeps_when_it_last_succeeded(container):
    connections = container.integrations.connections
    await connect(container, "usr_a", "todoist", ProviderTokens("a1"))

    async def record(error: str | None) -> None:
        async with container.database.transaction() as uow:
            assert await connections.record_sync(uow, "usr_a", "todoist", error)

    async def seen():
        async with container.database.transaction(write=False) as uow:
            return await connections.connection(uow, "usr_a", "todoist")

    fresh = await seen()
    assert (fresh.last_synced_at, fresh.stale) == (None, False)
    await record(None)
    synced = (await seen()).last_synced_at
    assert synced is not None
    await record("unreachable")
    failed = await seen()
    assert (failed.stale, failed.sync_error, failed.last_synced_at) == (True, "unreachable", synced)
    await record(None)
    again = await seen()
    assert (again.stale, again.sync_error) == (False, None)
    assert again.last_synced_at > synced
    with pytest.raises(ValueError, match="short code"):
        async with container.database.transaction() as uow:
            await connections.record_sync(uow, "usr_a", "todoist", "Connection refused to 10.0.0.1")
    async with container.database.transaction() as uow:
        assert not await connections.record_sync(uow, "usr_nobody", "todoist", None)
