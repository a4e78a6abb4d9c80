"""API clients' credentials over HTTP, on SQLite and Postgres: an access JWT oO signed acts as its
person, a refresh token works once and its reuse kills the whole family (RFC 9700 §2.2.2), the JWKS
verifies what oO signs, and deleting the account stops every one of them at once."""

from __future__ import annotations

import asyncio

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from oo_contracts.identity import Scope
from services.auth.access_tokens import ACCESS_SECONDS, AUDIENCE, ISSUER, KEYS_FILE_NAME, AccessTokens, SigningKeys
from tests.conftest import bearer, new_user_with_token


async def session(container, user_id: str, *scopes: Scope):
    async with container.database.transaction() as uow:
        return await container.auth.identity.start_client_session(uow, user_id, scopes or [Scope.tips])


async def refresh(client, token: str):
    return await client.post("/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": token})


async def test_an_access_token_acts_as_its_person_with_its_scopes_alone(client, container):
    user_id, _ = await new_user_with_token(container)
    pair = await session(container, user_id, Scope.tips, Scope.account_read)

    me = await client.get("/v1/me", headers=bearer(pair.access_token))
    assert me.status_code == 200
    assert me.json() == {
        "user_id": user_id,
        "method": "access_token",
        "scopes": ["account:read", "tips"],
        "role": "member",
    }
    assert pair.expires_in == ACCESS_SECONDS
    refused = await client.delete("/v1/me", headers=bearer(pair.access_token))  # no account:delete in it
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "insufficient_scope")


async def test_a_refresh_token_works_once_and_its_reuse_kills_the_family(client, container):
    user_id, _ = await new_user_with_token(container)
    first = await session(container, user_id)

    second = await refresh(client, first.refresh_token)
    assert second.status_code == 200
    successor = second.json()
    assert successor["refresh_token"] != first.refresh_token
    assert (await client.get("/v1/me", headers=bearer(successor["access_token"]))).status_code == 200

    reused = await refresh(client, first.refresh_token)  # a stolen copy, used after the client
    assert (reused.status_code, reused.json()["error"]["code"]) == (401, "invalid_grant")
    dead = await refresh(client, successor["refresh_token"])  # the family died with the reuse
    assert (dead.status_code, dead.json()["error"]["code"]) == (401, "invalid_grant")


async def test_two_uses_racing_with_one_refresh_token_get_one_pair(client, container):
    user_id, _ = await new_user_with_token(container)
    first = await session(container, user_id)
    answers = await asyncio.gather(*(refresh(client, first.refresh_token) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]


@pytest.mark.parametrize("token", ["", "oo_rt_nothing", "oo_rt_" + "0" * 16 + "_" + "A" * 43, "x" * 129])
async def test_a_token_that_is_none_of_ours_is_one_answer(client, token):
    answer = await refresh(client, token)
    expected = (422, "invalid_request") if token in ("", "x" * 129) else (401, "invalid_grant")
    assert (answer.status_code, answer.json()["error"]["code"]) == expected


async def test_the_jwks_verifies_what_oo_signs_and_holds_no_private_key(client, container):
    user_id, _ = await new_user_with_token(container)
    pair = await session(container, user_id)
    published = (await client.get("/.well-known/jwks.json")).json()
    assert all(set(key) == {"kty", "crv", "x", "kid", "use", "alg"} for key in published["keys"])
    decoded = jwt.decode(pair.access_token, KeySet.import_key_set(published), algorithms=["Ed25519"])
    assert (decoded.claims["sub"], decoded.claims["iss"], decoded.claims["aud"]) == (user_id, ISSUER, AUDIENCE)
    assert decoded.header["typ"] == "at+jwt"


async def test_an_expired_access_token_is_a_401(client, container):
    user_id, _ = await new_user_with_token(container)
    keys = SigningKeys(container.settings.core.data_dir / KEYS_FILE_NAME)
    past = AccessTokens(keys, issuer=ISSUER, audience=AUDIENCE, clock=lambda: 1_000_000_000.0)
    answer = await client.get("/v1/me", headers=bearer(past.issue(user_id, [Scope.tips])))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_deleting_the_account_stops_its_access_and_refresh_tokens_at_once(client, container):
    user_id, token = await new_user_with_token(container)
    pair = await session(container, user_id)
    assert (await client.delete("/v1/me", headers=bearer(token))).status_code == 202
    assert (await client.get("/v1/me", headers=bearer(pair.access_token))).status_code == 401
    assert (await refresh(client, pair.refresh_token)).status_code == 401
