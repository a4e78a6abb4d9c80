"""Login through a real OIDC provider (Canaille, started by the suite on loopback) and the page's
sessions, on SQLite and Postgres: the relying party's duties (state, PKCE, nonce, issuer pinning, no
open redirect), identities keyed by (issuer, subject), linking, and the sessions' cookie, rotation,
logout, expiry, sign-out everywhere and CSRF."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from services.app import create_app
from services.auth.settings import OidcProvider
from services.bootstrap import bootstrap
from tests.conftest import LOOPBACK
from tests.oidc_provider import LoginApp, callback_params, login_settings, register_redirect

CSRF = {"X-OO-CSRF": "1"}


async def start(browser: httpx.AsyncClient, provider: str = "iam", **params: str) -> httpx.Response:
    started = await browser.get(f"/v1/auth/login/{provider}", params=params)
    assert started.status_code == 302, started.text
    return started


async def sign_in(app: LoginApp, browser: httpx.AsyncClient, person, provider: str = "iam") -> httpx.Response:
    """The whole login as a browser does it: oO → the provider (signed in there as `person`) → oO."""
    app.provider.signs_in(person)
    back = await app.provider.authorize((await start(browser, provider)).headers["location"])
    done = await browser.get(back.path, params=callback_params(back))
    assert done.status_code == 303, (done.text, str(back))
    return done


def session_cookie(response: httpx.Response) -> str:
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("oo_session=")]
    assert len(cookies) == 1, response.headers
    return cookies[0].split(";")[0].split("=", 1)[1]


async def test_a_full_login_with_pkce_and_a_nonce_makes_a_person_and_a_session(login_app):
    started = await start(login_app.client)
    query = httpx.URL(started.headers["location"]).params
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url of SHA-256
    assert len(query["state"]) >= 43  # ≥ 256 bits
    assert len(query["nonce"]) >= 43
    assert query["redirect_uri"] == f"{LOOPBACK}/v1/auth/callback/iam"
    assert started.headers["cache-control"] == "no-store"

    person = login_app.provider.person()
    login_app.provider.signs_in(person)
    back = await login_app.provider.authorize(started.headers["location"])
    done = await login_app.client.get(back.path, params=callback_params(back))
    assert (done.status_code, done.headers["location"]) == (303, "/")
    assert done.headers["referrer-policy"] == "no-referrer"
    me = await login_app.client.get("/v1/me")
    assert me.status_code == 200
    assert me.json()["method"] == "session"
    assert me.json()["user_id"].startswith("usr_")
    # The same identity signs in to the same person again.
    again = login_app.browser()
    await sign_in(login_app, again, person)
    assert (await again.get("/v1/me")).json()["user_id"] == me.json()["user_id"]


async def test_a_replayed_callback_is_a_400(login_app):
    login_app.provider.signs_in(login_app.provider.person())
    back = await login_app.provider.authorize((await start(login_app.client)).headers["location"])
    first = await login_app.client.get(back.path, params=callback_params(back))
    assert first.status_code == 303
    replay = await login_app.client.get(back.path, params=callback_params(back))
    assert (replay.status_code, replay.json()["error"]["code"]) == (400, "login_state_mismatch")


async def test_another_browsers_state_is_a_400(login_app):
    login_app.provider.signs_in(login_app.provider.person())
    back = await login_app.provider.authorize((await start(login_app.client)).headers["location"])
    async with login_app.browser() as victim:
        await start(victim)  # the victim has a login of their own under way
        forced = await victim.get(back.path, params=callback_params(back))
        assert (forced.status_code, forced.json()["error"]["code"]) == (400, "login_state_mismatch")
        assert (await victim.get("/v1/me")).status_code == 401
    # The flow was not spent by the refusal: its own browser still finishes it.
    assert (await login_app.client.get(back.path, params=callback_params(back))).status_code == 303


async def test_a_callback_without_the_pre_auth_cookie_is_a_400(login_app):
    login_app.provider.signs_in(login_app.provider.person())
    back = await login_app.provider.authorize((await start(login_app.client)).headers["location"])
    async with login_app.browser() as bare:
        answer = await bare.get(back.path, params=callback_params(back))
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "login_state_mismatch")


async def test_an_id_token_with_another_nonce_is_refused(login_app):
    login_app.provider.signs_in(login_app.provider.person())
    started = await start(login_app.client)
    # A nonce of the attacker's choosing (a fresh one: the provider refuses a nonce it has seen).
    back = await login_app.provider.authorize(started.headers["location"], nonce=secrets.token_urlsafe(32))
    answer = await login_app.client.get(back.path, params=callback_params(back))
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_id_token"), answer.text
    assert (await login_app.client.get("/v1/me")).status_code == 401


async def test_an_id_token_from_another_issuer_is_refused(login_app, iam_configuration):
    """Signed with the provider's own key, right audience and nonce, but naming another issuer."""
    key = KeySet.import_key_set({"keys": iam_configuration["CANAILLE_OIDC"]["ACTIVE_JWKS"]}).keys[0]
    client_id = login_app.provider.clients["iam"][0]
    now = int(time.time())
    claims = {"iss": "https://elsewhere.example", "sub": "someone", "aud": client_id, "iat": now, "exp": now + 300}
    forged = jwt.encode({"alg": "RS256", "kid": key.kid}, claims | {"nonce": "n1"}, key)
    clients = login_app.container.auth.logins._clients
    with pytest.raises(Exception, match="does not verify") as refused:
        await clients.identity_in("iam", {"id_token": forged, "token_type": "Bearer"}, "n1")
    assert refused.value.code == "invalid_id_token"  # type: ignore[attr-defined]
    honest = jwt.encode(
        {"alg": "RS256", "kid": key.kid}, claims | {"iss": login_app.provider.issuer, "nonce": "n1"}, key
    )
    verified = await clients.identity_in("iam", {"id_token": honest, "token_type": "Bearer"}, "n1")
    assert (verified.issuer, verified.subject) == (login_app.provider.issuer, "someone")


async def test_a_code_brought_to_another_providers_callback_is_refused(login_app):
    """Mix-up: a flow started at `iam` answered at `iam-two`'s callback, or with another `iss`."""
    login_app.provider.signs_in(login_app.provider.person())
    back = await login_app.provider.authorize((await start(login_app.client)).headers["location"])
    params = callback_params(back)
    crossed = await login_app.client.get("/v1/auth/callback/iam-two", params=params)
    assert (crossed.status_code, crossed.json()["error"]["code"]) == (400, "login_state_mismatch")
    other_iss = await login_app.client.get(back.path, params=params | {"iss": "https://elsewhere.example"})
    assert (other_iss.status_code, other_iss.json()["error"]["code"]) == (400, "issuer_mismatch")


async def test_discovery_naming_another_issuer_is_refused(settings, oidc_provider):
    # Configured with a trailing slash, the issuer is another string than the one the document names
    # (issuers compare as exact strings, OIDC Discovery §4.3), though the document is the provider's own.
    client_id, secret = oidc_provider.clients["iam"]
    pinned = OidcProvider(issuer=f"{oidc_provider.issuer}/", client_id=client_id, client_secret=secret)
    container = bootstrap(login_settings(settings, {"pinned": pinned}))
    await container.prepare_storage()
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
            answer = await client.get("/v1/auth/login/pinned")
    await container.database.dispose()
    assert (answer.status_code, answer.json()["error"]["code"]) == (502, "issuer_mismatch")
    assert "set-cookie" not in answer.headers


async def test_an_unknown_provider_is_a_404(login_app):
    for answer in (
        await login_app.client.get("/v1/auth/login/nowhere"),
        await login_app.client.get("/v1/auth/callback/nowhere", params={"code": "c", "state": "s"}),
    ):
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "unknown_provider")


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil", "/a b"])
async def test_next_is_only_a_path_of_this_site(login_app, target):
    answer = await login_app.client.get("/v1/auth/login/iam", params={"next": target})
    assert answer.status_code == 422
    assert "set-cookie" not in answer.headers


async def test_next_brings_the_person_back_where_they_were(login_app):
    login_app.provider.signs_in(login_app.provider.person())
    started = await start(login_app.client, next="/?sheet=open")
    back = await login_app.provider.authorize(started.headers["location"])
    done = await login_app.client.get(back.path, params=callback_params(back))
    assert (done.status_code, done.headers["location"]) == (303, "/?sheet=open")


async def test_the_loopback_cookies_are_httponly_lax_without_the_secure_prefix(login_app):
    started = await start(login_app.client)
    login_cookie = started.headers["set-cookie"]
    assert login_cookie.startswith("oo_login=")
    assert login_cookie.split(";", 1)[1] == " HttpOnly; Max-Age=600; Path=/; SameSite=lax"
    done = await sign_in(login_app, login_app.browser(), login_app.provider.person())
    secret = session_cookie(done)
    assert f"oo_session={secret}; HttpOnly; Max-Age=2592000; Path=/; SameSite=lax" in done.headers.get_list(
        "set-cookie"
    )


async def test_in_production_the_session_cookie_is_host_prefixed_secure_httponly_lax(login_app):
    public = "https://oo.example"
    register_redirect(login_app.provider, "iam", f"{public}/v1/auth/callback/iam")
    transport = httpx.ASGITransport(app=login_app.client._transport.app, client=("203.0.113.9", 443))
    async with httpx.AsyncClient(transport=transport, base_url=public) as browser:
        started = await browser.get("/v1/auth/login/iam")
        assert httpx.URL(started.headers["location"]).params["redirect_uri"] == f"{public}/v1/auth/callback/iam"
        [login_cookie] = started.headers.get_list("set-cookie")
        name_value, attributes = login_cookie.split(";", 1)
        assert name_value.startswith("__Host-oo_login=")
        assert attributes == " HttpOnly; Max-Age=600; Path=/; SameSite=lax; Secure"
        login_app.provider.signs_in(login_app.provider.person())
        back = await login_app.provider.authorize(started.headers["location"])
        assert (back.scheme, back.host) == ("https", "oo.example")
        done = await browser.get(back.path, params=callback_params(back))
        assert done.status_code == 303, done.text
        [session] = [c for c in done.headers.get_list("set-cookie") if c.startswith("__Host-oo_session=")]
        secret = session.split(";")[0].split("=", 1)[1]
        assert session == f"__Host-oo_session={secret}; HttpOnly; Max-Age=2592000; Path=/; SameSite=lax; Secure"
        assert len(secret) == 43
        assert (await browser.get("/v1/me")).json()["method"] == "session"
        # The loopback name means nothing here.
        browser.cookies.clear()
        plain = await browser.get("/v1/me", headers={"Cookie": f"oo_session={secret}"})
        assert plain.status_code == 401


async def test_the_session_id_rotates_on_login_and_the_old_one_is_dead(login_app):
    person = login_app.provider.person()
    first = session_cookie(await sign_in(login_app, login_app.client, person))
    second = session_cookie(await sign_in(login_app, login_app.client, person))
    assert first != second
    async with login_app.browser() as thief:
        old = await thief.get("/v1/me", headers={"Cookie": f"oo_session={first}"})
        assert old.status_code == 401
        assert (await thief.get("/v1/me", headers={"Cookie": f"oo_session={second}"})).status_code == 200


async def test_logout_ends_the_session_and_clears_the_browser(login_app):
    secret = session_cookie(await sign_in(login_app, login_app.client, login_app.provider.person()))
    out = await login_app.client.post("/v1/auth/logout", headers=CSRF)
    assert out.status_code == 204
    assert out.headers["clear-site-data"] == '"cookies"'
    assert any(c.startswith("oo_session=") and "Max-Age=0" in c for c in out.headers.get_list("set-cookie"))
    async with login_app.browser() as replay:
        again = await replay.get("/v1/me", headers={"Cookie": f"oo_session={secret}"})
        assert (again.status_code, again.json()["error"]["code"]) == (401, "unauthenticated")
        assert (
            await replay.post("/v1/auth/logout", headers=CSRF | {"Cookie": f"oo_session={secret}"})
        ).status_code == 401


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_session_ends_when_idle_and_at_its_absolute_end(login_app):
    clock = Clock()
    sessions = login_app.container.auth.sessions
    sessions.clock = clock
    end = clock.now + sessions.absolute
    await sign_in(login_app, login_app.client, login_app.provider.person())
    # Used just before going idle each time, it lives until its absolute end, and not a second more.
    while clock.now + sessions.idle < end:
        clock.now += sessions.idle - timedelta(seconds=1)
        assert (await login_app.client.get("/v1/me")).status_code == 200
    clock.now = end - timedelta(seconds=1)
    assert (await login_app.client.get("/v1/me")).status_code == 200
    clock.now = end
    assert (await login_app.client.get("/v1/me")).status_code == 401

    async with login_app.browser() as other:
        await sign_in(login_app, other, login_app.provider.person())
        clock.now += sessions.idle - timedelta(seconds=1)
        assert (await other.get("/v1/me")).status_code == 200
        clock.now += sessions.idle  # unused for as long as the idle timeout
        assert (await other.get("/v1/me")).status_code == 401


PROVIDER_LOGGERS = {"canaille", "werkzeug"}


async def test_no_code_state_or_session_secret_reaches_the_logs(login_app, logs):
    login_app.provider.signs_in(login_app.provider.person())
    started = await start(login_app.client)
    pre_auth = login_app.client.cookies["oo_login"]
    back = await login_app.provider.authorize(started.headers["location"])
    done = await login_app.client.get(back.path, params=callback_params(back))
    await login_app.client.get("/v1/me")
    await login_app.client.post("/v1/auth/logout", headers=CSRF)
    said = logs.getvalue()
    assert "/v1/auth/callback/iam" in said  # the request log is captured here
    params = callback_params(back)
    secrets_seen = [params["code"], params["state"], pre_auth, *pre_auth.split("."), session_cookie(done)]
    # The provider runs in this process (Canaille and its web server): what it logs is its own, not oO's.
    ours = [line for line in said.splitlines() if json.loads(line).get("logger") not in PROVIDER_LOGGERS]
    assert [line for line in ours if any(secret in line for secret in secrets_seen)] == []
