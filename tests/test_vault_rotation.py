"""`oo vault rotate`, `status` and `retire` on SQLite and Postgres: after a rotation no row is sealed
under the old key, the old key can be destroyed, and the app still starts and opens every token
(reference/security.md E04). A token written while the rotation runs is never overwritten."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import os

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from services.app import create_app
from services.bootstrap import Container, bootstrap
from services.cli import cli
from services.integrations.api import ProviderTokens
from services.kernel.keyring import KEYRING_FILE_NAME, KeyringFile, keyring_text
from services.kernel.vault_rotation import RESEAL_SHARE_ROWS, reseal_all, rows_by_key
from services.settings import Settings
from tests.test_connections import tokens_of

PEOPLE = RESEAL_SHARE_ROWS * 2 + 7  # several shares, the last one short


@pytest.fixture(autouse=True)
def _logging_as_it_was():
    """The command configures the process's logging, as `oo` does; the tests after this one keep theirs."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


async def oo_vault(settings: Settings, *args: str, keyring: str | None = None) -> Result:
    """`oo vault …` as an operator runs it, against the same database and data directory."""
    env = {"OO_DATA_DIR": str(settings.core.data_dir), "OO_LOG_LEVEL": "WARNING"}
    if settings.database.database_url:
        env["DATABASE_URL"] = settings.database.database_url
    if keyring is not None:
        env["OO_VAULT_KEYRING"] = keyring
    # On a thread: the command runs its own event loop, as it does in a shell.
    return await asyncio.to_thread(lambda: CliRunner().invoke(cli, ["vault", *args], env=env))


def with_keyring(settings: Settings, keyring: str) -> Settings:
    return dataclasses.replace(settings, core=settings.core.model_copy(update={"vault_keyring": SecretStr(keyring)}))


def grants() -> dict[str, ProviderTokens]:
    return {
        f"usr_{i:04d}": ProviderTokens(f"access-{i}", f"refresh-{i}" if i % 2 else None, scopes=("data:read",))
        for i in range(PEOPLE)
    }


async def seed(container: Container, given: dict[str, ProviderTokens]) -> None:
    async with container.database.transaction() as uow:
        for user_id, tokens in given.items():
            await container.integrations.connections.connect(uow, user_id, "todoist", tokens)


async def every_token_opens(settings: Settings, given: dict[str, ProviderTokens]) -> None:
    """A new process's start-up with these settings, then every token read back."""
    container = bootstrap(settings)
    app = create_app(container=container)
    async with app.router.lifespan_context(app), container.database.transaction(write=False) as uow:
        for user_id, tokens in given.items():
            assert await container.integrations.connections.tokens(uow, user_id, "todoist") == tokens


async def test_rotation_leaves_no_row_under_the_old_key_and_the_app_starts_once_it_is_destroyed(container, settings):
    given = grants()
    await seed(container, given)
    old = container.vault.current_key_id
    status = await oo_vault(settings, "status")
    assert status.exit_code == 0, status.output
    assert f"key {old}: {PEOPLE} rows (current)" in status.stdout
    assert "access-" not in status.output

    rotated = await oo_vault(settings, "rotate")
    assert rotated.exit_code == 0, rotated.output
    new = container.keyring.keyring().current
    assert new != old
    assert f"re-sealed {PEOPLE} rows under key {new}; 0 rows left under other keys" in rotated.stdout
    assert await rows_by_key(container.database, container.sealed_stores) == {new: PEOPLE}

    retired = await oo_vault(settings, "retire", old)
    assert retired.exit_code == 0, retired.output
    key_file = json.loads((settings.core.data_dir / KEYRING_FILE_NAME).read_text())
    assert set(key_file["keys"]) == {new}
    await every_token_opens(settings, given)


async def test_a_key_still_in_use_cannot_be_retired(container, settings):
    await seed(container, {"usr_a": ProviderTokens("a")})
    current = container.vault.current_key_id
    refused = await oo_vault(settings, "retire", current)
    assert refused.exit_code == 1
    assert "1 row still sealed under key" in refused.stderr
    assert await tokens_of(container, "usr_a", "todoist") == ProviderTokens("a")


async def test_a_keyring_given_in_the_setting_rotates_to_its_current_key(container, settings):
    first, second = os.urandom(32), os.urandom(32)
    only_first = keyring_text({"first": first}, "first")
    before = with_keyring(settings, only_first)
    writer = bootstrap(before)
    given = grants()
    await seed(writer, given)
    await writer.database.dispose()

    # The operator gives every process the keyring with the new key current, then rotates.
    both = keyring_text({"first": first, "second": second}, "second")
    rotated = await oo_vault(settings, "rotate", keyring=both)
    assert rotated.exit_code == 0, rotated.output
    assert "new current key" not in rotated.stdout  # a setting is never written by oO
    assert f"re-sealed {PEOPLE} rows under key second" in rotated.stdout
    refused = await oo_vault(settings, "retire", "first", keyring=both)
    assert refused.exit_code == 1
    assert "remove the key there" in refused.stderr

    only_second = keyring_text({"second": second}, "second")
    status = await oo_vault(settings, "status", keyring=only_second)
    assert status.exit_code == 0, status.output
    assert f"key second: {PEOPLE} rows (current)" in status.stdout
    assert base64.b64encode(second).decode() not in status.output
    after = with_keyring(settings, only_second)
    await every_token_opens(after, given)


async def test_status_names_rows_whose_key_the_keyring_lacks(container, settings):
    await seed(container, {"usr_a": ProviderTokens("a")})
    lost = container.vault.current_key_id
    other = keyring_text({"other": os.urandom(32)}, "other")
    status = await oo_vault(settings, "status", keyring=other)
    assert status.exit_code == 1
    assert f"key {lost}: 1 row (not in the keyring: these rows do not open)" in status.stdout


async def test_a_token_written_while_the_rotation_runs_is_never_overwritten(container, monkeypatch):
    await seed(container, {"usr_a": ProviderTokens("old-a", "old-ra"), "usr_b": ProviderTokens("old-b")})
    assert isinstance(container.keyring, KeyringFile)
    new = container.keyring.add_current_key()
    repository = container.integrations.sealed._repository
    read_rows = repository.not_under_key
    fresh = ProviderTokens("fresh-a", "fresh-ra")

    async def rows_then_a_refresh_lands(uow, key_id, after, limit):
        found = await read_rows(uow, key_id, after, limit)
        if found:  # between the rotation's read and its write, as a concurrent refresh would
            await container.integrations.connections.store_refreshed(uow, "usr_a", "todoist", fresh)
        return found

    monkeypatch.setattr(repository, "not_under_key", rows_then_a_refresh_lands)
    report = await reseal_all(container.database, container.vault, container.sealed_stores)

    assert await tokens_of(container, "usr_a", "todoist") == fresh
    assert await tokens_of(container, "usr_b", "todoist") == ProviderTokens("old-b")
    assert (report.resealed, report.lost_to_writers, report.left_under_other_keys) == (1, 1, 0)
    assert await rows_by_key(container.database, container.sealed_stores) == {new: 2}
