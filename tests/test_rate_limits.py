"""Rate limits where credentials are traded: past the limit a client gets 429 with Retry-After, other
clients are untouched, the refused tries do not count, and waiting as told is enough."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import limits.storage.memory
import limits.strategies
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from services.app import create_app
from services.bootstrap import bootstrap
from services.gateway.settings import GatewaySettings
from services.kernel import rate_limits
from services.settings import Settings
from tests.conftest import LOOPBACK, make_settings

GARBAGE = {"grant_type": "refresh_token", "refresh_token": "oo_rt_" + "0" * 16 + "_" + "A" * 43}


class Clock:
    """The limiter's and the `limits` library's time, moved on by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    for module in (limits.storage.memory, limits.strategies, rate_limits):
        monkeypatch.setattr(module, "time", types.SimpleNamespace(time=clock.time))
    return clock


@pytest.fixture
async def limited(tmp_path: Path, clock: Clock) -> AsyncIterator[FastAPI]:
    settings: Settings = make_settings(tmp_path / "data", None, credential_rate_limits="3/minute;5/hour")
    container = bootstrap(settings)
    await container.prepare_storage()
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        yield app
    await container.database.dispose()


def from_address(app: FastAPI, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url=LOOPBACK)


async def test_past_the_limit_a_client_waits_as_told_and_others_go_on(limited: FastAPI, clock: Clock) -> None:
    async with from_address(limited, "198.51.100.7") as one, from_address(limited, "198.51.100.8") as other:
        for _ in range(3):
            assert (await one.post("/v1/auth/token", json=GARBAGE)).status_code == 401
        refused = await one.post("/v1/auth/token", json=GARBAGE)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["Retry-After"] == "60"
        assert (await other.post("/v1/auth/token", json=GARBAGE)).status_code == 401  # another address

        clock.now += 30  # refused tries meanwhile are not counted: the wait told stays the first one's
        again = await one.post("/v1/auth/token", json=GARBAGE)
        assert (again.status_code, again.headers["Retry-After"]) == (429, "30")
        clock.now += 30
        assert (await one.post("/v1/auth/token", json=GARBAGE)).status_code == 401

        # The hour's limit holds beyond the minute's: 5 in the hour, whatever the pace.
        clock.now += 60
        assert (await one.post("/v1/auth/token", json=GARBAGE)).status_code == 401
        hourly = await one.post("/v1/auth/token", json=GARBAGE)
        assert hourly.status_code == 429
        assert int(hourly.headers["Retry-After"]) == 3600 - 120  # until the first try leaves the hour


def test_the_429_is_documented_on_the_token_endpoint(limited: FastAPI) -> None:
    responses = limited.openapi()["paths"]["/v1/auth/token"]["post"]["responses"]
    assert responses["429"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


@pytest.mark.parametrize("text", ["", "twenty a minute", "20/fortnight", "20/minute;", "0/minute"])
def test_a_rate_that_is_not_one_stops_start_up_with_its_name(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OO_CREDENTIAL_RATE_LIMITS", text)
    with pytest.raises(ValidationError, match="credential_rate_limits"):
        GatewaySettings()


async def test_starting_a_login_and_answering_one_are_limited_with_the_token_exchange(limited: FastAPI) -> None:
    async with from_address(limited, "198.51.100.10") as client:
        assert (await client.get("/v1/auth/login/nowhere")).status_code == 404  # counted all the same
        assert (await client.get("/v1/auth/callback/nowhere", params={"code": "c", "state": "s"})).status_code == 404
        assert (await client.post("/v1/auth/token", json=GARBAGE)).status_code == 401
        for tried in (
            client.get("/v1/auth/login/nowhere"),
            client.get("/v1/auth/callback/nowhere", params={"code": "c", "state": "s"}),
            client.post("/v1/auth/callback/nowhere", content=b"code=c&state=s"),
        ):
            answer = await tried
            assert (answer.status_code, answer.json()["error"]["code"]) == (429, "rate_limited")
