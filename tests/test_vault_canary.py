"""Canary tokens (reference/security.md E01): unique random provider tokens go through everything oO does
with them — stored, rotated, exported, refused after tampering, revoked with a failure, deleted with
the account — and none is then found in the database (SQLite's file and its log, byte for byte;
Postgres's `pg_dump`), the logs, the export or any answer. Nor is the vault's key."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import traceback

import pytest
import structlog
from sqlalchemy import update

from services.bootstrap import Container
from services.integrations.api import ProviderTokens
from services.integrations.tables import integrations_connections
from services.kernel.keyring import KEYRING_FILE_NAME, KeyringFile
from services.kernel.vault import SealedValueRefused
from services.kernel.vault_rotation import reseal_all
from services.settings import Settings
from tests.conftest import bearer, new_user_with_token
from tests.postgres_cluster import _binary
from tests.test_connections import connect, rows, tokens_of


class LeakyRevoker:
    """A provider whose refusal quotes the request, tokens and all, as some HTTP clients' errors do."""

    async def revoke(self, tokens: ProviderTokens) -> None:
        raise RuntimeError(f"revoke refused for token={tokens.access_token} refresh={tokens.refresh_token}")


async def database_bytes(container: Container, settings: Settings) -> bytes:
    """Everything the database holds as stored: SQLite's files (free pages and the log included), or
    Postgres's dump."""
    if container.database.dialect == "sqlite":
        files = sorted(settings.core.data_dir.glob("oo.sqlite3*"))
        assert any(f.name == "oo.sqlite3-wal" for f in files)
        return b"".join(f.read_bytes() for f in files)
    url = settings.database.database_url
    assert url is not None
    done = await asyncio.to_thread(
        subprocess.run, [_binary("pg_dump"), "--dbname", url], capture_output=True, timeout=120, check=True
    )
    return done.stdout


async def test_no_canary_token_is_found_anywhere(client, container, settings, logs):
    canaries = [f"canary{secrets.token_hex(16)}" for _ in range(5)]
    user_id, token = await new_user_with_token(container)
    other_id, _ = await new_user_with_token(container)
    container.integrations.revokers["todoist"] = LeakyRevoker()
    await connect(container, user_id, "todoist", ProviderTokens(canaries[0], canaries[1], scopes=("data:read",)))
    await connect(container, user_id, "calendar", ProviderTokens(canaries[2]))
    await connect(container, other_id, "todoist", ProviderTokens(canaries[3], canaries[4]))
    assert isinstance(container.keyring, KeyringFile)
    container.keyring.add_current_key()
    await reseal_all(container.database, container.vault, container.sealed_stores)
    assert (await tokens_of(container, other_id, "todoist")) == ProviderTokens(canaries[3], canaries[4])
    stored = await rows(container)
    while_held = await database_bytes(container, settings)
    # The dump is of the right data: the ciphertexts are in it.
    assert all(row.access_token_sealed.encode() in while_held for row in stored)

    answers = []
    export = await client.get("/v1/me/export", headers=bearer(token))
    assert export.status_code == 200
    assert [c["provider"] for c in export.json()["integrations"]["connections"]] == ["calendar", "todoist"]
    answers.append(export.text)
    answers.append((await client.get("/v1/nope", headers=bearer(token))).text)

    # A ciphertext moved to another row: refused, and neither the refusal nor its traceback quotes a token.
    table = integrations_connections
    [moved] = [row for row in stored if row.user_id == user_id and row.provider == "todoist"]
    async with container.database.transaction() as uow:
        await uow.connection.execute(
            update(table).where(table.c.user_id == other_id).values(access_token_sealed=moved.access_token_sealed)
        )
    with pytest.raises(SealedValueRefused) as refused:
        await tokens_of(container, other_id, "todoist")
    answers.append("".join(traceback.format_exception(refused.value)))
    structlog.get_logger("test").exception("refused", exc_info=refused.value)

    # Deleted with the account; the revocation fails and is logged.
    deleted = await client.delete("/v1/me", headers=bearer(token))
    assert deleted.status_code == 202
    answers.append(deleted.text)
    answers.append((await client.get(f"/v1/deletion-receipts/{deleted.json()['receipt_id']}")).text)
    assert '"integration_revoke_failed"' in logs.getvalue()
    async with container.database.transaction() as uow:
        await container.integrations.connections.disconnect(uow, other_id, "todoist")  # does not open: not revoked
    answers.append(repr(container.vault) + repr(ProviderTokens(canaries[0], canaries[1])))

    places = {
        "database while the tokens were held": while_held,
        "database after": await database_bytes(container, settings),
        "logs": logs.getvalue().encode(),
        "answers": "\n".join(answers).encode(),
    }
    keys = json.loads((settings.core.data_dir / KEYRING_FILE_NAME).read_text())["keys"].values()
    secrets_of_oo = [c.encode() for c in canaries] + [k.encode() for k in keys] + [base64.b64decode(k) for k in keys]
    found = [(name, i) for name, haystack in places.items() for i, s in enumerate(secrets_of_oo) if s in haystack]
    assert found == []
