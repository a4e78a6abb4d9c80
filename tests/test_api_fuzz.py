"""Schemathesis against a real `oo serve`: no 5xx, every response as documented, auth enforced."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import empty_postgres_url
from tests.oo_cli import oo_ok
from tests.postgres_cluster import free_port
from tests.test_processes import _env, running


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
    # Tokens only: local mode would answer unauthenticated requests as the local user.
    env = _env(data_dir, OO_LOCAL_MODE="false", OO_LOG_LEVEL="WARNING")
    if request.param == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        with ThreadPoolExecutor(1) as pool:
            env["DATABASE_URL"] = pool.submit(asyncio.run, empty_postgres_url(cluster)).result()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(env, "serve", "--port", str(port), url=f"{base}/ready"):
        user = oo_ok(env, "users", "create")
        # Beyond local mode a person grants processing before their signals are taken (ADR 0022).
        oo_ok(env, "consents", "grant", user, "core")
        yield base, oo_ok(env, "tokens", "issue", "--user", user)


# Rules JSON Schema cannot state (relative to the server's clock, across items, or per consent purpose);
# a schema-valid request may break them and get 422. Anything else rejected is a contract bug.
NON_SCHEMA_RULES = {
    ("occurred_at", "future"),
    ("occurred_at", "before 2000"),
    ("id", "same id appears"),
    ("payload", "window_end_hour must be after window_start_hour"),
    ("payload", "end must be after start"),
    ("payload", "lasts at most two days"),
    ("payload", "due_date lies outside"),
    ("payload", "has no text version"),
    # PUT /v1/me/consents: a text version past the purpose's current one, a purpose answered twice.
    (r"consents\.\d+", "has no text version"),
    ("", "is answered twice"),
    # PUT /v1/me/integrations/caldav|ics: where an address may lead is the server's to judge.
    ("url", "http only on this machine"),
    ("url", "must not carry a user or password"),
    ("url", "points inside this server's network"),
    ("url", "is not a valid address"),
    # … and whether the calendar there answers, and as a calendar: connecting is reading it once.
    ("url", "host is not found"),
    ("url", "cannot be reached"),
    ("url", "redirects too often"),
    ("url", "does not answer"),
    ("url", "answered with something"),
    ("url", "does not lead to a calendar"),
    ("url", "too large"),
    ("url", "no longer works"),
    ("password", "refused this user name and password"),
}


def assert_only_rules_json_schema_cannot_express(body: dict) -> None:
    for item in body["error"]["items"]:
        field_of = item.get("field") or ""
        assert any(re.fullmatch(field, field_of) and words in item["problem"] for field, words in NON_SCHEMA_RULES), (
            item
        )


def fuzz_every_operation(
    fuzz_server: tuple[str, str],
    mode: GenerationMode,
    examples: int,
    check_response: Callable[[schemathesis.Case, Any], None],
    *,
    with_inputs_only: bool = False,
) -> list[str]:
    """Every operation but account deletion, `examples` cases each; every failing operation is reported,
    not only the first. Returns the operations tried."""
    base, token = fuzz_server
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    failures: dict[str, str] = {}
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err would raise here, failing the test
        if (operation.method.upper(), operation.path) == ("DELETE", "/v1/me"):
            continue  # deleting the account would end every later case; test_privacy.py covers it
        if with_inputs_only and not {"parameters", "requestBody"} & operation.definition.raw.keys():
            continue  # no input the schema constrains, so nothing to break

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            check_response(case, case.call(base_url=base, headers=headers))

        tested.append(operation.label)
        try:
            check()
        except Exception as error:
            failures[operation.label] = str(error)[:2000]
    assert failures == {}, "\n\n".join(f"{label}: {failure[:700]}" for label, failure in failures.items())
    return tested


def test_every_operation_answers_as_documented(fuzz_server: tuple[str, str]) -> None:
    def documented(case: schemathesis.Case, response: Any) -> None:
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        if response.status_code == 422:
            assert_only_rules_json_schema_cannot_express(response.json())

    assert len(fuzz_every_operation(fuzz_server, GenerationMode.POSITIVE, 40, documented)) >= 7


def test_every_operation_refuses_what_its_schema_refuses_with_a_documented_4xx(fuzz_server: tuple[str, str]) -> None:
    """Negative generation: bodies, parameters and headers that break the schema (a NUL where free text
    refuses it, a wrong type, a missing field) each get a documented 4xx, never a 5xx, on both backends."""

    def refused(case: schemathesis.Case, response: Any) -> None:
        case.validate_response(response)

    tested = fuzz_every_operation(fuzz_server, GenerationMode.NEGATIVE, 25, refused, with_inputs_only=True)
    assert {"POST /v1/events", "POST /v1/recommend", "POST /v1/feedback"} <= set(tested)
