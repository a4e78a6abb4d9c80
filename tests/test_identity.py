"""Who may call: personal API tokens, the local user of local mode, scopes."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from services.app import create_app
from services.bootstrap import Container
from tests.conftest import LOOPBACK, bearer, new_user_with_token, secret_of
from tests.events_factory import checkin


async def test_a_token_acts_as_its_user(client: httpx.AsyncClient, container: Container):
    user_id, token = await new_user_with_token(container)
    response = await client.get("/v1/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["user_id"] == user_id
    assert response.json()["method"] == "api_token"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer oo_pat_0000000000000000_" + "a" * 43, "Bearer nonsense", "Basic dXNlcjpwdw==", "Bearer "],
)
async def test_bad_credentials_are_401_with_an_error_body(client, authorization):
    response = await client.get("/v1/me", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthenticated"


async def test_a_token_with_a_right_id_but_wrong_secret_is_refused(client, container):
    _, token = await new_user_with_token(container)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (await client.get("/v1/me", headers=bearer(forged))).status_code == 401


async def test_revoked_token_answers_401(client, container):
    _, token = await new_user_with_token(container)
    async with container.database.transaction() as uow:
        assert await container.auth.identity.revoke_token(uow, token) == "revoked"
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401
    async with container.database.transaction() as uow:
        assert await container.auth.identity.revoke_token(uow, token) == "not_live"  # idempotent
        assert await container.auth.identity.revoke_token(uow, token.split("_")[2]) == "not_live"  # by its id
        assert await container.auth.identity.revoke_token(uow, "oo_pat_…") == "malformed"


async def test_a_token_without_the_scope_is_403(client, container):
    _, token = await new_user_with_token(container, "account:read")
    response = await client.post("/v1/events", json={"events": [checkin()]}, headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert (await client.get("/v1/me/export", headers=bearer(token))).status_code == 200


async def test_tokens_are_hashed_at_rest(client, container):
    _, token = await new_user_with_token(container)
    secret = secret_of(token)
    async with container.database.transaction(write=False) as uow:
        rows = (await uow.connection.execute(text("SELECT * FROM auth_api_tokens"))).all()
    assert rows
    assert all(secret not in str(tuple(row)) and token not in str(tuple(row)) for row in rows)


async def test_local_mode_serves_the_local_user_without_login(client):
    first = await client.get("/v1/me")
    assert first.status_code == 200
    assert first.json()["method"] == "local"
    assert (await client.get("/v1/me")).json()["user_id"] == first.json()["user_id"]


async def test_local_mode_refuses_a_foreign_host_header(client):
    # DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends its own Host.
    response = await client.get("/v1/me", headers={"Host": "evil.example:8000"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_local"


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://127.0.0.1:3000",  # another local server's page, on this machine
        "http://localhost:8000",  # the same port under another name is another origin to a browser
        "https://127.0.0.1:8000",
        "http://127.0.0.1",
        "null",  # a sandboxed frame or a file
    ],
)
async def test_local_mode_refuses_writes_from_any_origin_but_its_own(client, origin):
    response = await client.post("/v1/events", json={"events": [checkin()]}, headers={"Origin": origin})
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "cross_origin",
        "message": f"local mode accepts writes only from its own page ({LOOPBACK}), not from {origin!r}",
        "items": [],
    }
    deletion = await client.delete("/v1/me", headers={"Origin": origin})
    assert deletion.status_code == 403
    assert deletion.json()["error"]["code"] == "cross_origin"


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000"])
async def test_local_mode_accepts_writes_from_its_own_page_under_the_name_it_was_opened_by(client, host):
    headers = {"Host": host, "Origin": f"http://{host}"}
    response = await client.post("/v1/events", json={"events": [checkin()]}, headers=headers)
    assert response.status_code == 200, response.text


async def test_without_local_mode_every_request_needs_a_token(container: Container):
    container.settings.gateway.local_mode = False
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
        response = await client.get("/v1/me")
    assert response.status_code == 401
