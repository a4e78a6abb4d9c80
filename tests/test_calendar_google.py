"""The Google Calendar connector: oO's real OAuth client (Authlib) and API client
(google-api-python-client) against the Google simulator over HTTP on loopback — the code flow with PKCE
and a single-use state, errors in words, renewal stored, a refused grant breaking the link, failures
leaving the blocks and the connection stale, and revocation on disconnection and account deletion."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update

from services.bootstrap import Container
from services.integrations.calendar.settings import CalendarSettings
from services.integrations.tables import integrations_oauth_states
from tests.calendar_servers import GoogleSim
from tests.conftest import LOOPBACK, bearer, new_user_with_token

CONNECT = "/v1/integrations/google_calendar/connect"
CALLBACK = f"{LOOPBACK}/v1/integrations/google_calendar/callback"
CLIENT_ID, CLIENT_SECRET = "oo-test.apps.googleusercontent.com", "oo-test-secret"
PROVIDER = "google_calendar"
TIMEOUT_SECONDS = 1.0
BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
async def settings(settings, google_sim: GoogleSim):
    calendar = CalendarSettings(
        google_client_id=CLIENT_ID,
        google_client_secret=CLIENT_SECRET,
        google_auth_url=f"{google_sim.url}/o/oauth2/v2/auth",
        google_token_url=f"{google_sim.url}/token",
        google_revoke_url=f"{google_sim.url}/revoke",
        google_api_url=f"{google_sim.url}/",
        calendar_timeout_seconds=TIMEOUT_SECONDS,
    )
    return replace(settings, calendar=calendar)


@pytest.fixture
def person(google_sim: GoogleSim) -> str:
    """A Google account of its own for each test, the one the next consent screen signs in."""
    user = f"p{secrets.token_hex(6)}@example.com"
    google_sim.register(CLIENT_ID, CLIENT_SECRET, CALLBACK)
    google_sim.access_token_seconds(3599)
    google_sim.next_consent(user)
    return user


def hour(offset: timedelta) -> datetime:
    return BASE + offset


async def grant(client: httpx.AsyncClient, granted: bool = True, headers: dict | None = None) -> None:
    body = {"consents": [{"purpose": "integration:google_calendar", "granted": granted, "version": 1}]}
    assert (await client.put("/v1/me/consents", json=body, headers=headers)).status_code == 200


async def busy(client: httpx.AsyncClient, headers: dict | None = None) -> list[tuple[datetime, datetime]]:
    state = (await client.get("/v1/me/export", headers=headers)).json()["recommender"]["feature_state"]
    return [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in state["busy"]]


async def user_id_of(client: httpx.AsyncClient, headers: dict | None = None) -> str:
    user_id: str = (await client.get("/v1/me/export", headers=headers)).json()["user_id"]
    return user_id


async def consent_screen(client: httpx.AsyncClient, headers: dict | None = None) -> str:
    """Start connecting, and follow the browser to Google: the callback URL Google sends it back to."""
    started = await client.get(CONNECT, headers=headers)
    assert started.status_code == 302, started.text
    async with httpx.AsyncClient(timeout=10) as browser:  # the person's browser, at Google
        at_google = await browser.get(started.headers["location"])
    assert at_google.status_code == 302, at_google.text
    callback: str = at_google.headers["location"]
    assert callback.startswith(CALLBACK)
    return callback


async def come_back(client: httpx.AsyncClient, callback: str, headers: dict | None = None) -> dict[str, str]:
    """The callback's redirect to the page, and what it tells the page."""
    answer = await client.get(callback.removeprefix(LOOPBACK), headers=headers)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["location"])
    assert location.path == "/"
    return {key: values[0] for key, values in parse_qs(location.query).items()}


async def connected(client: httpx.AsyncClient) -> None:
    assert await come_back(client, await consent_screen(client)) == {"integration": PROVIDER, "result": "connected"}


async def connection(container: Container, user_id: str):
    async with container.database.transaction(write=False) as uow:
        return await container.integrations.connections.connection(uow, user_id, PROVIDER)


async def tokens(container: Container, user_id: str):
    async with container.database.transaction(write=False) as uow:
        return await container.integrations.connections.tokens(uow, user_id, PROVIDER)


async def test_the_code_flow_connects_and_reads_the_primary_calendars_busy_times(
    client, container: Container, google_sim: GoogleSim, person: str
):
    block = (hour(timedelta(hours=2)), hour(timedelta(hours=3)))
    google_sim.seed_busy(person, [block, (hour(timedelta(days=30)), hour(timedelta(days=30, hours=1)))])
    await grant(client)
    listed = (await client.get("/v1/me/integrations")).json()["integrations"]
    assert "google_calendar" in [i["provider"] for i in listed]  # offered: this server has a Google client

    started = await client.get(CONNECT)
    authorize = parse_qs(urlsplit(started.headers["location"]).query)
    await connected(client)

    assert {k: authorize[k][0] for k in ("scope", "code_challenge_method", "access_type", "response_type")} == {
        "scope": "https://www.googleapis.com/auth/calendar.freebusy",
        "code_challenge_method": "S256",
        "access_type": "offline",
        "response_type": "code",
    }
    assert len(authorize["state"][0]) >= 43  # 256 bits, URL-safe
    assert await busy(client) == [block]
    held = await tokens(container, await user_id_of(client))
    assert held is not None
    assert held.refresh_token is not None
    assert held.scopes == ("https://www.googleapis.com/auth/calendar.freebusy",)


async def test_a_state_works_once_and_only_for_the_person_who_started(
    client, container: Container, google_sim: GoogleSim, person: str
):
    user_a, token_a = await new_user_with_token(container)
    _, token_b = await new_user_with_token(container)
    for token in (token_a, token_b):
        await grant(client, headers=bearer(token))

    callback = await consent_screen(client, bearer(token_a))
    google_sim.next_consent(person)
    other = await consent_screen(client, bearer(token_a))

    assert await come_back(client, other, bearer(token_b)) == {"integration": PROVIDER, "result": "wrong_person"}
    assert await come_back(client, callback, bearer(token_a)) == {"integration": PROVIDER, "result": "connected"}
    assert (await come_back(client, callback, bearer(token_a)))["result"] == "state_unknown"
    forged = callback.replace("state=", "state=x")
    assert (await come_back(client, forged, bearer(token_a)))["result"] == "state_unknown"
    assert (await connection(container, user_a)) is not None


async def test_an_expired_state_is_refused(client, container: Container, person: str):
    await grant(client)
    callback = await consent_screen(client)
    async with container.database.transaction() as uow:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await uow.connection.execute(update(integrations_oauth_states).values(expires_at=past))

    assert (await come_back(client, callback))["result"] == "state_expired"
    assert await connection(container, await user_id_of(client)) is None


async def test_declining_at_google_and_a_bad_code_are_told_in_words(
    client, container: Container, google_sim: GoogleSim, person: str
):
    await grant(client)
    google_sim.next_consent(person, decision="deny")
    declined = await come_back(client, await consent_screen(client))
    google_sim.next_consent(person)
    callback = await consent_screen(client)
    bad_code = await come_back(client, callback.replace("code=", "code=bogus"))

    assert declined == {"integration": PROVIDER, "result": "access_denied"}
    assert bad_code["result"] == "bad_code"
    assert await connection(container, await user_id_of(client)) is None


async def test_wrong_app_credentials_and_an_unticked_scope_are_told_in_words(
    client, container: Container, google_sim: GoogleSim, person: str
):
    await grant(client)
    google_sim.register(CLIENT_ID, "another-secret", CALLBACK)
    misconfigured = await come_back(client, await consent_screen(client))
    google_sim.register(CLIENT_ID, CLIENT_SECRET, CALLBACK)
    google_sim.next_consent(person, scopes=[])
    unticked = await come_back(client, await consent_screen(client))

    assert misconfigured["result"] == "google_misconfigured"
    assert unticked["result"] == "scope_not_granted"
    assert await connection(container, await user_id_of(client)) is None


async def test_connecting_needs_consent_and_a_configured_google(client, container: Container, person: str):
    refused = await client.get(CONNECT)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "consent_required")

    container.calendars.settings.google_client_id = None
    unconfigured = await client.get(CONNECT)
    assert (unconfigured.status_code, unconfigured.json()["error"]["code"]) == (404, "integration_not_configured")


async def test_an_access_token_near_its_end_is_renewed_and_the_new_one_stored(
    client, container: Container, google_sim: GoogleSim, person: str
):
    google_sim.access_token_seconds(60)  # within the five minutes before which oO renews
    await grant(client)
    await connected(client)
    user_id = await user_id_of(client)
    before = await tokens(container, user_id)
    renewals = len(google_sim.calls("/token"))

    assert await container.calendars.calendars.google.refresh(user_id) == "refreshed"

    after = await tokens(container, user_id)
    assert before is not None
    assert after is not None
    assert after.access_token != before.access_token
    assert after.refresh_token == before.refresh_token
    assert after.expires_at is not None
    assert before.expires_at is not None
    assert after.expires_at > before.expires_at
    assert parse_qs(google_sim.calls("/token")[renewals]["body"])["grant_type"] == ["refresh_token"]


async def test_the_token_refresh_job_renews_a_grant_ending_within_its_margin_and_leaves_a_longer_one(
    client, container: Container, google_sim: GoogleSim, person: str
):
    google_sim.access_token_seconds(20 * 60)  # past the read's five minutes, within the job's 30
    await grant(client)
    await connected(client)
    user_id = await user_id_of(client)
    before = await tokens(container, user_id)
    renewals = len(google_sim.calls("/token"))

    # The schedule as it runs: the periodic fan-out defers one job per person, and the jobs run.
    fan_out = next(periodic for periodic in container.jobs.schedule if periodic.name == "token_refresh")
    await fan_out.run()
    await container.jobs.idle()

    after = await tokens(container, user_id)
    assert before is not None
    assert after is not None
    assert after.access_token != before.access_token
    assert after.refresh_token == before.refresh_token
    assert parse_qs(google_sim.calls("/token")[renewals]["body"])["grant_type"] == ["refresh_token"]
    assert len(google_sim.calls("/token")) == renewals + 1

    google_sim.access_token_seconds(3599)  # the renewed token ends in 20 minutes; this is the next one's
    assert await container.calendars.calendars.google.renew_token(user_id, timedelta(minutes=10)) is True
    assert len(google_sim.calls("/token")) == renewals + 1  # good for longer than asked: left alone


async def test_a_renewal_google_refuses_breaks_the_connection(
    client, container: Container, google_sim: GoogleSim, person: str
):
    google_sim.access_token_seconds(20 * 60)
    await grant(client)
    await connected(client)
    user_id = await user_id_of(client)
    google_sim.revoke_everything_of(person)

    assert await container.calendars.calendars.google.renew_token(user_id, timedelta(minutes=30)) is False

    broken = await connection(container, user_id)
    assert (broken.connected, broken.sync_error) == (False, "unauthorized")


@pytest.mark.parametrize(("lifetime", "where"), [(3599, "freeBusy answers 401"), (60, "renewal answers invalid_grant")])
async def test_a_grant_google_no_longer_honours_breaks_the_connection(
    client, container: Container, google_sim: GoogleSim, person: str, lifetime: int, where: str
):
    google_sim.access_token_seconds(lifetime)
    block = (hour(timedelta(hours=2)), hour(timedelta(hours=3)))
    google_sim.seed_busy(person, [block])
    await grant(client)
    await connected(client)
    user_id = await user_id_of(client)
    google_sim.revoke_everything_of(person)

    assert await container.calendars.calendars.google.refresh(user_id) == "failed"

    broken = await connection(container, user_id)
    assert (broken.connected, broken.sync_error) == (False, "unauthorized"), where
    assert await busy(client) == [block]
    assert await container.calendars.calendars.google.refresh(user_id) == "failed"  # no retry until reconnected


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"status": 500}, "google_unavailable"),
        ({"status": 403, "reason": "rateLimitExceeded"}, "rate_limited"),
        ({"status": 429}, "rate_limited"),
        ({"delay": TIMEOUT_SECONDS * 3}, "unreachable"),
    ],
)
async def test_a_failing_google_leaves_the_blocks_and_the_connection_stale_until_it_answers(
    client, container: Container, google_sim: GoogleSim, person: str, fault: dict, code: str
):
    block = (hour(timedelta(hours=2)), hour(timedelta(hours=3)))
    google_sim.seed_busy(person, [block])
    await grant(client)
    await connected(client)
    user_id = await user_id_of(client)
    google_sim.fault(person, **fault)

    assert await container.calendars.calendars.google.refresh(user_id) == "failed"
    stale = await connection(container, user_id)
    assert (stale.connected, stale.stale, stale.sync_error) == (True, True, code)
    assert await busy(client) == [block]

    moved = (hour(timedelta(hours=4)), hour(timedelta(hours=5)))
    google_sim.seed_busy(person, [moved])
    assert await container.calendars.calendars.google.refresh(user_id) == "refreshed"
    assert (await connection(container, user_id)).stale is False
    assert await busy(client) == [moved]


async def test_disconnecting_revokes_the_grant_at_google(client, container: Container, google_sim: GoogleSim, person):
    await grant(client)
    await connected(client)
    user_id = await user_id_of(client)
    held = await tokens(container, user_id)
    revocations = len(google_sim.calls("/revoke"))

    async with container.database.transaction() as uow:
        assert await container.integrations.connections.disconnect(uow, user_id, PROVIDER)
        await container.calendars.calendars.google.forget(uow, user_id)

    calls = google_sim.calls("/revoke")[revocations:]
    assert held is not None
    assert [parse_qs(call["body"])["token"] for call in calls] == [[held.refresh_token]]
    assert await busy(client) == []
    async with httpx.AsyncClient(timeout=10) as anyone:
        renewal = await anyone.post(
            f"{google_sim.url}/token",
            data={"grant_type": "refresh_token", "refresh_token": held.refresh_token},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
    assert renewal.json()["error"] == "invalid_grant"


async def test_deleting_the_account_revokes_the_grant_at_google(
    client, container: Container, google_sim: GoogleSim, person
):
    user_id, token = await new_user_with_token(container)
    await grant(client, headers=bearer(token))
    assert await come_back(client, await consent_screen(client, bearer(token)), bearer(token)) == {
        "integration": PROVIDER,
        "result": "connected",
    }
    held = await tokens(container, user_id)
    revocations = len(google_sim.calls("/revoke"))

    assert (await client.delete("/v1/me", headers=bearer(token))).status_code == 202

    calls = google_sim.calls("/revoke")[revocations:]
    assert held is not None
    assert [parse_qs(call["body"])["token"] for call in calls] == [[held.refresh_token]]


async def test_an_authorization_under_way_is_exported_without_its_secrets_and_gone_once_used(
    client, container: Container, person: str
):
    await grant(client)
    callback = await consent_screen(client)
    state = parse_qs(urlsplit(callback).query)["state"][0]

    during = await client.get("/v1/me/export")
    assert [p["provider"] for p in during.json()["integrations"]["pending_authorizations"]] == [PROVIDER]
    async with container.database.transaction(write=False) as uow:
        stored = (await uow.connection.execute(integrations_oauth_states.select())).all()
    assert len(stored) == 1
    assert state not in tuple(stored[0])  # kept as its hash only
    assert state not in during.text
    assert stored[0].code_verifier not in during.text

    await come_back(client, callback)
    after = await client.get("/v1/me/export")
    assert after.json()["integrations"]["pending_authorizations"] == []


async def test_a_grant_whose_first_read_fails_is_given_back_to_google(
    client, container: Container, google_sim: GoogleSim, person: str
):
    await grant(client)
    callback = await consent_screen(client)
    google_sim.fault(person, status=500)
    revocations = len(google_sim.calls("/revoke"))

    told = await come_back(client, callback)

    assert told["result"] == "google_unavailable"
    assert len(google_sim.calls("/revoke")) == revocations + 1
    assert await connection(container, await user_id_of(client)) is None
