"""Every operation of the OpenAPI document, read at test time (a new endpoint joins the matrix on its
own), against the credentials that must not reach it: none, an expired access token, a revoked personal
token, the token of a deleted account, a token without any scope — and another person, whose answers
never carry the first person's data. Server mode (no local user), on SQLite and Postgres.
"""

from __future__ import annotations

import functools
import re
import uuid
from typing import Any

import httpx

from oo_contracts.identity import Scope
from services.auth.access_tokens import AUDIENCE, ISSUER, KEYS_FILE_NAME, AccessTokens, SigningKeys
from services.bootstrap import Container
from services.contracts_snapshot import openapi_document
from tests.conftest import bearer, new_user_with_token

# What anyone may call: health, the published schema and keys, a receipt by its unguessable id, the
# refresh of a client's token (its credential is in the body), a provider's signed webhook or notice, and the
# login itself (the providers offered, the start, and the provider's answer, bound to the browser that
# started it: tests/test_login.py).
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/v1/schemas/account-export.json"),
    ("GET", "/v1/deletion-receipts/{receipt_id}"),
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/integrations/todoist/webhook"),
    ("POST", "/v1/auth/apple/notifications"),  # its credential is Apple's signature: test_apple_notifications.py
    ("GET", "/v1/auth/providers"),
    ("GET", "/v1/auth/login/{provider}"),
    ("GET", "/v1/auth/callback/{provider}"),
    ("POST", "/v1/auth/callback/{provider}"),
}
# Who one is needs no scope; everything else does.
NO_SCOPE_NEEDED = {("GET", "/v1/me")}
DELETES_THE_ACCOUNT = ("DELETE", "/v1/me")
CANARY = "Canary-person-A-4Q7"
CSRF = {"X-OO-CSRF": "1"}


# A valid body for each operation that needs one: refused credentials must meet a request the server
# would otherwise accept (an invalid body may be refused for its own sake first). An operation with a
# required body missing here fails the matrix, so a new one cannot slip past it.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/events"): {
        "events": [
            {
                "id": "00000000-0000-4000-8000-000000000001",
                "type": "profile.checkin_recorded.v2",
                "occurred_at": "2026-11-28T10:00:00Z",
                "payload": {"energy": 3},
            }
        ]
    },
    ("POST", "/v1/feedback"): {"decision_id": "00000000-0000-4000-8000-000000000002", "reaction": "later"},
    ("PUT", "/v1/me/consents"): {"consents": [{"purpose": "push", "granted": False, "version": 1}]},
    ("PUT", "/v1/me/integrations/caldav"): {"url": "https://caldav.example/", "username": "a", "password": "b"},
    ("PUT", "/v1/me/integrations/ics"): {"url": "https://calendar.example/a.ics"},
}


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document, built once for the module (building it makes a whole app)."""
    return openapi_document()


def operations() -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in item
        if (method.upper(), path) not in PUBLIC
    )


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "todoist" if m.group(0) == "{provider}" else str(uuid.uuid4()), path)


def needs_a_body(method: str, path: str) -> bool:
    operation = document()["paths"][path][method.lower()]
    return bool(operation.get("requestBody", {}).get("required"))


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    if needs_a_body(method, path):
        assert (method, path) in BODIES, f"{method} {path} needs a valid body in BODIES"
        return await client.request(method, concrete(path), json=BODIES[(method, path)], headers=headers)
    return await client.request(method, concrete(path), headers=headers)


async def refused_credentials(container: Container, client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    user_id, revoked = await new_user_with_token(container)
    async with container.database.transaction() as uow:
        assert await container.auth.identity.revoke_token(uow, revoked) == "revoked"
    keys = SigningKeys(container.settings.core.data_dir / KEYS_FILE_NAME)
    long_ago = AccessTokens(keys, issuer=ISSUER, audience=AUDIENCE, clock=lambda: 1_000_000_000.0)
    _, of_the_deleted = await new_user_with_token(container)
    assert (await client.delete("/v1/me", headers=bearer(of_the_deleted))).status_code == 202
    return {
        "no credential": {},
        "expired access token": bearer(long_ago.issue(user_id, list(Scope))),
        "revoked personal token": bearer(revoked),
        "a deleted account's token": bearer(of_the_deleted),
        "not a token": bearer("oo_pat_0000000000000000_" + "A" * 43),
        "a signed-out session": await signed_out_session(container, user_id),
        "an unknown session": {"Cookie": "oo_session=" + "A" * 43, **CSRF},
    }


async def signed_out_session(container: Container, user_id: str) -> dict[str, str]:
    """The page's cookie of a session that has ended (with the CSRF header, so only the session decides)."""
    async with container.database.transaction() as uow:
        made = await container.auth.sessions.start(uow, user_id, user_agent=None, replacing=None)
        assert await container.auth.sessions.end(uow, made.secret)
    return {"Cookie": f"oo_session={made.secret}", **CSRF}


async def test_no_operation_answers_a_caller_it_cannot_name(multi_user):
    container, client = multi_user
    refused = await refused_credentials(container, client)
    wrong: list[str] = []
    for method, path in operations():
        for name, headers in refused.items():
            answer = await call(client, method, path, headers)
            if answer.status_code != 401 or answer.json()["error"]["code"] not in ("unauthenticated", "invalid_token"):
                wrong.append(f"{method} {path} with {name}: {answer.status_code} {answer.text[:120]}")
    assert wrong == []
    assert len(operations()) >= 15  # the matrix reads the document: an empty read would pass anything


async def test_a_token_without_scopes_reaches_only_who_it_is(multi_user):
    container, client = multi_user
    _, scopeless = await new_user_with_token(container, *[])
    async with container.database.transaction() as uow:
        user_id = await container.auth.identity.create_user(uow)
        token = await container.auth.identity.issue_token(uow, user_id, scopes=[])
    wrong = []
    for method, path in operations():
        answer = await call(client, method, path, bearer(token.plaintext))
        expected = 200 if (method, path) in NO_SCOPE_NEEDED else 403
        if answer.status_code != expected:
            wrong.append(f"{method} {path}: {answer.status_code}, not {expected}")
    assert wrong == []
    del scopeless


async def test_another_person_reaches_nothing_of_the_first(multi_user):
    container, client = multi_user
    owner_id, owner = await new_user_with_token(container)
    other_id, other = await new_user_with_token(container)
    for token in (owner, other):
        update = {"consents": [{"purpose": "core", "granted": True, "version": 1}]}
        assert (await client.put("/v1/me/consents", json=update, headers=bearer(token))).status_code == 200
    task = {"task_id": "t-canary", "title": CANARY, "estimated_minutes": 10, "priority": 4}
    event = {
        "id": str(uuid.uuid4()),
        "type": "integrations.task_added.v2",
        "occurred_at": "2026-11-28T10:00:00Z",
        "payload": task,
    }
    assert (await client.post("/v1/events", json={"events": [event]}, headers=bearer(owner))).status_code == 200
    shown = (await client.post("/v1/recommend", json={}, headers=bearer(owner))).json()
    decision = shown["decision_id"]

    leaks = []
    for method, path in operations():
        if (method, path) == DELETES_THE_ACCOUNT:
            continue  # the other's own deletion: below, after every other operation
        answer = await call(client, method, path, bearer(other))
        for secret in (owner_id, CANARY, decision):
            if secret in answer.text:
                leaks.append(f"{method} {path} shows {secret}")
    assert leaks == []
    # The owner's decision, named by the other person: the same 404 as a decision that does not exist.
    named = await client.post("/v1/feedback", json={"decision_id": decision, "reaction": "done"}, headers=bearer(other))
    unknown = await client.post(
        "/v1/feedback", json={"decision_id": str(uuid.uuid4()), "reaction": "done"}, headers=bearer(other)
    )
    assert (named.status_code, named.json()["error"]) == (unknown.status_code, unknown.json()["error"])
    assert named.status_code == 404
    assert (await client.delete("/v1/me", headers=bearer(other))).status_code == 202
    assert CANARY in (await client.get("/v1/me/export", headers=bearer(owner))).text  # the owner's data stands
    assert other_id not in (await client.get("/v1/me/export", headers=bearer(owner))).text
