"""Roles: member unless an operator makes a person admin with `oo users role`; read from the user's row
at each request, whatever the credential; recorded in the person's history; never given by a client."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from oo_contracts.identity import Principal, Role, Scope
from services.auth.tables import auth_users
from services.bootstrap import Container
from services.kernel.http import require_admin
from tests.conftest import bearer, new_user_with_token


@pytest.fixture
def admin_page(app: FastAPI) -> FastAPI:
    """A route as the operator's pages will have it, mounted for the test."""
    router = APIRouter()

    @router.get("/test-admin")
    async def page(principal: Annotated[Principal, Depends(require_admin)]) -> dict[str, str]:
        return {"user_id": principal.user_id}

    app.include_router(router)
    return app


async def set_role(container: Container, user_id: str, role: Role) -> str:
    async with container.database.transaction() as uow:
        return await container.auth.identity.set_role(uow, user_id, role)


async def client_pair(container, user_id: str):
    async with container.database.transaction() as uow:
        return await container.auth.identity.start_client_session(uow, user_id, [Scope.account_read])


async def test_only_an_admin_reaches_the_operators_pages_and_a_demotion_is_at_once(client, container, admin_page):
    user_id, token = await new_user_with_token(container)
    pair = await client_pair(container, user_id)
    assert (await client.get("/v1/me", headers=bearer(token))).json()["role"] == "member"
    for credential in (token, pair.access_token):
        refused = await client.get("/test-admin", headers=bearer(credential))
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "admin_only")

    assert await set_role(container, user_id, Role.admin) == "set"
    for credential in (token, pair.access_token):  # the access token was signed before: it carries no role
        assert (await client.get("/v1/me", headers=bearer(credential))).json()["role"] == "admin"
        reached = await client.get("/test-admin", headers=bearer(credential))
        assert (reached.status_code, reached.json()) == (200, {"user_id": user_id})

    assert await set_role(container, user_id, Role.member) == "set"
    assert (await client.get("/test-admin", headers=bearer(pair.access_token))).status_code == 403


async def test_an_admin_is_still_only_themselves_everywhere_else(client, container, admin_page):
    admin_id, admin = await new_user_with_token(container)
    _, other = await new_user_with_token(container)
    await set_role(container, admin_id, Role.admin)
    theirs = (await client.get("/v1/me/export", headers=bearer(other))).json()
    mine = (await client.get("/v1/me/export", headers=bearer(admin))).json()
    assert mine["identity"]["user_id"] == admin_id != theirs["identity"]["user_id"]


async def test_a_role_change_is_in_the_persons_history_and_export(client, container):
    user_id, token = await new_user_with_token(container)
    assert await set_role(container, user_id, Role.admin) == "set"
    assert await set_role(container, user_id, Role.admin) == "unchanged"  # no second event for nothing
    assert await set_role(container, "usr_" + "0" * 24, Role.admin) == "no_user"
    export = (await client.get("/v1/me/export", headers=bearer(token))).json()
    assert export["identity"]["role"] == "admin"
    changes = [e["payload"] for e in export["events"]["events"] if e["type"] == "auth.user_role_set.v1"]
    assert changes == [{"role": "admin", "how": "cli"}]


async def test_no_client_can_give_itself_a_role(client, container):
    _, token = await new_user_with_token(container)
    forged = {
        "id": str(uuid.uuid4()),
        "type": "auth.user_role_set.v1",
        "occurred_at": datetime.now(UTC).isoformat(),
        "payload": {"role": "admin", "how": "cli"},
    }
    answer = await client.post("/v1/events", json={"events": [forged]}, headers=bearer(token))
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "invalid_batch")
    assert (await client.get("/v1/me", headers=bearer(token))).json()["role"] == "member"


async def test_the_database_holds_roles_to_the_two_known(container):
    user_id, _ = await new_user_with_token(container)
    with pytest.raises(IntegrityError):
        async with container.database.transaction() as uow:
            await uow.connection.execute(update(auth_users).where(auth_users.c.user_id == user_id).values(role="boss"))


def test_the_role_command_gives_and_takes_the_role(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from services.cli import cli

    monkeypatch.setenv("OO_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    user_id = runner.invoke(cli, ["users", "create"]).output.strip()
    given = runner.invoke(cli, ["users", "role", user_id, "admin"])
    assert (given.exit_code, given.output) == (0, f"{user_id} is admin\n")
    again = runner.invoke(cli, ["users", "role", user_id, "admin"])
    assert again.output == f"{user_id} is admin (already)\n"
    assert runner.invoke(cli, ["users", "role", user_id, "member"]).output == f"{user_id} is member\n"
    unknown = runner.invoke(cli, ["users", "role", "usr_nobody", "admin"])
    assert unknown.exit_code == 1
    assert runner.invoke(cli, ["users", "role", user_id, "boss"]).exit_code == 2  # typer refuses the value
