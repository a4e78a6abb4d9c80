"""The committed contract files match the code, and every status an endpoint returns is documented."""

from __future__ import annotations

import pytest

from services.contracts_snapshot import openapi_document, snapshot_files

PUBLIC = {
    "/health",
    "/ready",
    "/metrics",
    "/v1/schemas/account-export.json",
    "/v1/deletion-receipts/{receipt_id}",
    # An API client's refresh (its credential is the refresh token in the body), and the public keys.
    "/v1/auth/token",
    "/.well-known/jwks.json",
    # A provider's call: a signed webhook, Apple's signed notification.
    "/v1/integrations/todoist/webhook",
    "/v1/auth/apple/notifications",
    # Signing in: what anyone may do before having any credential (tests/test_login.py).
    "/v1/auth/providers",
    "/v1/auth/login/{provider}",
    "/v1/auth/callback/{provider}",
}


def test_committed_contract_files_match_the_code():
    stale = [str(path) for path, text in snapshot_files().items() if not path.exists() or path.read_text() != text]
    assert stale == [], "run `uv run oo contracts --write` and commit the result"


def _operations():
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


@pytest.mark.parametrize(("path", "method", "operation"), list(_operations()), ids=lambda v: str(v)[:40])
def test_every_error_status_is_documented_with_the_error_body(path, method, operation):
    responses = operation["responses"]
    expected = set()
    if path not in PUBLIC:
        expected |= {"401", "403", "503"}
    if "requestBody" in operation:
        expected |= {"400", "413", "422"}
    if operation.get("parameters"):
        expected |= {"422"}
    assert expected <= set(responses), f"{method.upper()} {path} lacks {sorted(expected - set(responses))}"
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, f"{method} {path} {status}"


def test_event_payload_schemas_appear_in_openapi():
    schemas = openapi_document()["components"]["schemas"]
    assert {"CheckinRecorded", "ContextObserved", "EventBatch", "ErrorBody"} <= set(schemas)
