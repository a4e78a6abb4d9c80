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


async def test_local_mode_refuses_cross_origin_writes(client):
    response = await client.post("/v1/events", json={"events": [checkin()]}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "cross_origin"
    same_origin = await client.post("/v1/events", json={"events": [checkin()]}, headers={"Origin": LOOPBACK})
    assert same_origin.status_code == 200


async def test_without_local_mode_every_request_needs_a_token(container: Container):
    container.settings.gateway.local_mode = False
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
        response = await client.get("/v1/me")
    assert response.status_code == 401
