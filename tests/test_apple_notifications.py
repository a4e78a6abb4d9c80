"""Sign in with Apple's server-to-server notifications, delivered by the Apple simulator over HTTP:
`account-delete` deletes the person's oO account by the path `DELETE /v1/me` takes, `consent-revoked`
unlinks the Apple login and ends every session, and nothing that Apple did not sign for this app is
believed."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from oo_simulators.apple import create_app as create_apple
from services.app import create_app
from services.auth.oidc import VerifiedIdentity
from services.auth.settings import APPLE_ISSUER, AuthSettings
from services.bootstrap import Container, bootstrap
from services.settings import Settings
from tests.calendar_servers import LoopbackServer
from tests.conftest import LOOPBACK, new_user_with_token
from tests.postgres_cluster import free_port

CLIENT_ID = "com.example.oo"
APPLE = {"client_id": CLIENT_ID, "team_id": "TEAM", "key_id": "KEY", "private_key": "unused here"}


@pytest.fixture(scope="session")
def apple_sim() -> Iterator[LoopbackServer]:
    server = LoopbackServer(create_apple())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def apple_app(settings: Settings, apple_sim: LoopbackServer) -> AsyncIterator[tuple[Container, FastAPI]]:
    auth = AuthSettings(oidc_providers={"apple": APPLE}, apple_keys_url=f"{apple_sim.url}/auth/keys")
    container = bootstrap(dataclasses.replace(settings, auth=auth))
    await container.prepare_storage()
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        yield container, app
    await container.database.dispose()


@pytest.fixture
async def client(apple_app: tuple[Container, FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=apple_app[1], client=("17.0.0.1", 443))
    async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
        yield client


def signed(apple_sim: LoopbackServer, kind: str, subject: str, **extra: Any) -> str:
    answer = httpx.post(
        f"{apple_sim.url}/_sim/notify", json={"type": kind, "sub": subject, "aud": CLIENT_ID, **extra}, timeout=30
    )
    answer.raise_for_status()
    return str(answer.json()["payload"])


def rotate(apple_sim: LoopbackServer) -> None:
    httpx.post(f"{apple_sim.url}/_sim/rotate").raise_for_status()


async def apple_person(container: Container, subject: str) -> tuple[str, str]:
    """A person who signed in with Apple: their id and a page session's secret."""
    user_id, _ = await new_user_with_token(container)
    async with container.database.transaction() as uow:
        await container.auth.identity._identities.add(
            uow, VerifiedIdentity(APPLE_ISSUER, subject), "apple", user_id, datetime.now(UTC)
        )
        session = await container.auth.sessions.start(uow, user_id, user_agent=None, replacing=None)
    return user_id, session.secret


async def session_works(container: Container, secret: str) -> bool:
    async with container.database.transaction() as uow:
        return await container.auth.identity.principal_for_session(uow, secret) is not None


async def test_an_apple_account_deleted_deletes_the_oo_account(client, apple_app, apple_sim):
    container, _ = apple_app
    user_id, secret = await apple_person(container, "001234.apple.subject")
    answer = await client.post(
        "/v1/auth/apple/notifications", json={"payload": signed(apple_sim, "account-delete", "001234.apple.subject")}
    )
    assert (answer.status_code, answer.json()) == (200, {"outcome": "deletion_started"})
    assert not await session_works(container, secret)
    async with container.database.transaction() as uow:
        assert not await container.auth.identity.hold_active_user(uow, user_id)
    await container.profile.privacy.run_deletion(user_id)
    async with container.database.transaction() as uow:
        assert await container.auth.identity.owner_of(uow, APPLE_ISSUER, "001234.apple.subject") is None

    again = await client.post(
        "/v1/auth/apple/notifications", json={"payload": signed(apple_sim, "account-delete", "001234.apple.subject")}
    )
    assert again.json() == {"outcome": "nothing_to_do"}  # Apple retries: a second notice finds no one


async def test_consent_revoked_unlinks_the_apple_login_and_ends_every_session(client, apple_app, apple_sim):
    container, _ = apple_app
    user_id, secret = await apple_person(container, "002.revoked")
    answer = await client.post(
        "/v1/auth/apple/notifications", json={"payload": signed(apple_sim, "consent-revoked", "002.revoked")}
    )
    assert answer.json() == {"outcome": "login_unlinked"}
    assert not await session_works(container, secret)
    async with container.database.transaction() as uow:
        assert await container.auth.identity.owner_of(uow, APPLE_ISSUER, "002.revoked") is None
        assert await container.auth.identity.hold_active_user(uow, user_id)  # the account itself stays


async def test_an_email_notice_changes_nothing_oo_keeps(client, apple_app, apple_sim):
    container, _ = apple_app
    _, secret = await apple_person(container, "003.email")
    answer = await client.post(
        "/v1/auth/apple/notifications", json={"payload": signed(apple_sim, "email-disabled", "003.email")}
    )
    assert answer.json() == {"outcome": "nothing_to_do"}
    assert await session_works(container, secret)


def test_the_simulator_delivers_as_apple_does(apple_sim) -> None:
    """Apple posts the payload to the app's endpoint; here the endpoint is a bare echo on loopback."""
    from fastapi import Body

    echo = FastAPI()

    @echo.post("/notify")
    async def took(body: dict = Body(...)) -> dict:
        return {"keys": sorted(body)}

    server = LoopbackServer(echo)
    server.start()
    try:
        answer = httpx.post(
            f"{apple_sim.url}/_sim/notify",
            json={"type": "account-delete", "sub": "s", "aud": CLIENT_ID, "url": f"{server.url}/notify"},
            timeout=30,
        ).json()
    finally:
        server.stop()
    assert (answer["status"], answer["answer"]) == (200, {"keys": ["payload"]})


FORGED: dict[str, dict[str, Any]] = {
    "another app": {"aud": "com.example.other"},
    "another issuer": {"iss": "https://appleid.apple.com.evil"},
    "a key Apple never published": {"unpublished_key": True},
    "alg none": {"alg_none": True},
    "a day old": {"iat": int(time.time()) - 2 * 86400},
    "from the future": {"iat": int(time.time()) + 3600},
}


@pytest.mark.parametrize("case", FORGED)
async def test_a_notice_apple_did_not_sign_for_this_app_is_refused(client, apple_app, apple_sim, case):
    container, _ = apple_app
    _, secret = await apple_person(container, f"004.{case.replace(' ', '-')}")
    payload = signed(apple_sim, "account-delete", f"004.{case.replace(' ', '-')}", **FORGED[case])
    answer = await client.post("/v1/auth/apple/notifications", json={"payload": payload})
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "invalid_notification")
    assert await session_works(container, secret)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ("not a jws", 422, "invalid_request"),
        ("x" * 8193, 422, "invalid_request"),
        ("a\u0000.b.c", 422, "invalid_request"),
        ("a.b.c", 401, "invalid_notification"),  # a JWS by its shape, which opens nothing
    ],
)
async def test_a_payload_that_is_no_jws_is_refused(client, payload, status, code):
    answer = await client.post("/v1/auth/apple/notifications", json={"payload": payload})
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)


async def test_a_rotated_key_is_fetched_once_it_signs(client, apple_app, apple_sim):
    container, _ = apple_app
    await apple_person(container, "005.rotated")
    first = await client.post("/v1/auth/apple/notifications", json={"payload": signed(apple_sim, "email-enabled", "x")})
    assert first.status_code == 200  # the keys are fetched once, here
    rotate(apple_sim)
    container.auth.apple._fetched_at = 0.0  # the minute between refetches has passed
    answer = await client.post(
        "/v1/auth/apple/notifications", json={"payload": signed(apple_sim, "consent-revoked", "005.rotated")}
    )
    assert answer.json() == {"outcome": "login_unlinked"}


async def test_without_sign_in_with_apple_the_endpoint_is_not_found(settings, apple_sim):
    container = bootstrap(settings)
    await container.prepare_storage()
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("17.0.0.1", 443))
        async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
            answer = await client.post(
                "/v1/auth/apple/notifications", json={"payload": signed(apple_sim, "account-delete", "s")}
            )
    await container.database.dispose()
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "unknown_provider")


async def test_while_apples_keys_cannot_be_read_the_notice_is_a_503_so_apple_sends_it_again(settings, apple_sim):
    closed = f"http://127.0.0.1:{free_port()}/auth/keys"  # nothing listens there
    auth = AuthSettings(oidc_providers={"apple": APPLE}, apple_keys_url=closed)
    container = bootstrap(dataclasses.replace(settings, auth=auth))
    await container.prepare_storage()
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("17.0.0.1", 443))
        async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
            payload = signed(apple_sim, "account-delete", "006.later")
            answer = await client.post("/v1/auth/apple/notifications", json={"payload": payload})
    await container.database.dispose()
    assert (answer.status_code, answer.json()["error"]["code"]) == (503, "provider_unavailable")
