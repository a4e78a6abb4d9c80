"""The page's sessions after a login through the real provider, on SQLite and Postgres: the list, one
signed out, all signed out, CSRF on writes by cookie (and none for bearer tokens), linking a second
login, two people kept apart, account deletion ending every session, Apple's client secret and
posted callback."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey

from services.auth.oidc import apple_client_secret
from services.auth.sessions import device_label, new_secret
from services.auth.settings import APPLE_ISSUER, AuthSettings
from tests.conftest import bearer, new_user_with_token
from tests.oidc_provider import callback_params
from tests.test_login import CSRF, session_cookie, sign_in, start

CHROME_ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile"


async def test_the_list_shows_each_browser_and_which_one_is_this(login_app):
    person = login_app.provider.person()
    await sign_in(login_app, login_app.client, person)
    async with login_app.browser() as phone:
        phone.headers["User-Agent"] = CHROME_ANDROID
        await sign_in(login_app, phone, person)
        listed = (await phone.get("/v1/me/sessions")).json()
    assert [(s["device"], s["current"]) for s in listed] == [("A browser", False), ("Chrome on Android", True)]
    assert set(listed[0]) == {"session_id", "device", "created_at", "last_seen_at", "expires_at", "current"}
    assert [s["current"] for s in (await login_app.client.get("/v1/me/sessions")).json()] == [True, False]


async def test_signing_one_browser_out_by_its_id(login_app):
    person = login_app.provider.person()
    await sign_in(login_app, login_app.client, person)
    async with login_app.browser() as phone:
        await sign_in(login_app, phone, person)
        phone_id = next(s["session_id"] for s in (await phone.get("/v1/me/sessions")).json() if s["current"])
        ended = await login_app.client.delete(f"/v1/me/sessions/{phone_id}", headers=CSRF)
        assert ended.status_code == 204
        assert "clear-site-data" not in ended.headers  # another browser's, not this one's
        assert (await phone.get("/v1/me")).status_code == 401
    assert (await login_app.client.get("/v1/me")).status_code == 200
    again = await login_app.client.delete(f"/v1/me/sessions/{phone_id}", headers=CSRF)
    assert (again.status_code, again.json()["error"]["code"]) == (404, "session_not_found")


async def test_sign_out_everywhere_ends_every_browser_and_every_api_client(login_app):
    person = login_app.provider.person()
    await sign_in(login_app, login_app.client, person)
    user_id = (await login_app.client.get("/v1/me")).json()["user_id"]
    async with login_app.container.database.transaction() as uow:
        pair = await login_app.container.auth.identity.start_client_session(uow, user_id, [])
    async with login_app.browser() as phone:
        await sign_in(login_app, phone, person)
        everywhere = await phone.delete("/v1/me/sessions", headers=CSRF)
        assert everywhere.status_code == 204
        assert everywhere.headers["clear-site-data"] == '"cookies"'
        assert (await phone.get("/v1/me")).status_code == 401
    assert (await login_app.client.get("/v1/me")).status_code == 401
    refreshed = await login_app.client.post(
        "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": pair.refresh_token}
    )
    assert refreshed.status_code == 401


async def test_a_write_by_cookie_needs_the_header_and_this_origin(login_app):
    await sign_in(login_app, login_app.client, login_app.provider.person())
    core = {"consents": [{"purpose": "core", "granted": True, "version": 1}]}
    missing = await login_app.client.put("/v1/me/consents", json=core)
    assert (missing.status_code, missing.json()["error"]["code"]) == (403, "csrf")
    foreign = await login_app.client.put(
        "/v1/me/consents", json=core, headers=CSRF | {"Origin": "https://evil.example"}
    )
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (403, "cross_origin")
    cross_site = await login_app.client.post("/v1/auth/logout", headers=CSRF | {"Sec-Fetch-Site": "cross-site"})
    assert (cross_site.status_code, cross_site.json()["error"]["code"]) == (403, "cross_origin")
    other_port = await login_app.client.post("/v1/auth/logout", headers=CSRF | {"Origin": "http://127.0.0.1:9999"})
    assert other_port.status_code == 403
    assert (await login_app.client.get("/v1/me")).status_code == 200  # none of them signed out
    own = await login_app.client.put("/v1/me/consents", json=core, headers=CSRF | {"Origin": "http://127.0.0.1:8000"})
    assert own.status_code == 200
    assert (await login_app.client.post("/v1/auth/logout", headers=CSRF)).status_code == 204


async def test_bearer_tokens_need_no_csrf_header(login_app):
    _, token = await new_user_with_token(login_app.container)
    core = {"consents": [{"purpose": "core", "granted": True, "version": 1}]}
    answer = await login_app.client.put(
        "/v1/me/consents", json=core, headers=bearer(token) | {"Origin": "https://tool.example"}
    )
    assert answer.status_code == 200


async def test_linking_a_second_login_and_refusing_one_another_account_holds(login_app):
    first, second, taken = (login_app.provider.person() for _ in range(3))
    await sign_in(login_app, login_app.client, first)
    user_id = (await login_app.client.get("/v1/me")).json()["user_id"]
    old_cookie = login_app.client.cookies["oo_session"]

    login_app.provider.signs_in(second)  # at the provider, the person is now their other login
    link = await login_app.client.post("/v1/me/identities/iam-two", headers=CSRF)
    assert link.status_code == 200, link.text
    back = await login_app.provider.authorize(link.json()["authorization_url"])
    linked = await login_app.client.get(back.path, params=callback_params(back))
    assert linked.status_code == 303, linked.text
    assert session_cookie(linked) != old_cookie  # re-authenticated: the session id rotates
    assert [i["provider"] for i in (await login_app.client.get("/v1/me/identities")).json()] == ["iam", "iam-two"]
    async with login_app.browser() as elsewhere:  # the second login now opens the same account
        await sign_in(login_app, elsewhere, second, provider="iam-two")
        assert (await elsewhere.get("/v1/me")).json()["user_id"] == user_id

    async with login_app.browser() as someone:  # a login that is already another person's account
        await sign_in(login_app, someone, taken)
    link = await login_app.client.post("/v1/me/identities/iam", headers=CSRF)
    back = await login_app.provider.authorize(link.json()["authorization_url"])
    refused = await login_app.client.get(back.path, params=callback_params(back))
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "identity_taken")
    assert len((await login_app.client.get("/v1/me/identities")).json()) == 2


async def test_the_same_email_at_two_subjects_is_two_people(login_app):
    email = f"same-{secrets.token_hex(4)}@example.org"
    one, two = login_app.provider.person(), login_app.provider.person()
    for person in (one, two):
        with login_app.provider.server.app.app_context():
            login_app.provider.server.backend.update(person, emails=[email])
            login_app.provider.server.backend.save(person)
    await sign_in(login_app, login_app.client, one)
    async with login_app.browser() as other:
        await sign_in(login_app, other, two)
        assert (await other.get("/v1/me")).json()["user_id"] != (await login_app.client.get("/v1/me")).json()["user_id"]


async def test_a_second_person_reaches_nothing_of_the_first(login_app):
    await sign_in(login_app, login_app.client, login_app.provider.person())
    first_id = (await login_app.client.get("/v1/me")).json()["user_id"]
    first_session = (await login_app.client.get("/v1/me/sessions")).json()[0]["session_id"]
    async with login_app.browser() as intruder:
        await sign_in(login_app, intruder, login_app.provider.person())
        assert (await intruder.get("/v1/me")).json()["user_id"] != first_id
        listed = await intruder.get("/v1/me/sessions")
        assert first_session not in listed.text
        assert len(listed.json()) == 1
        ended = await intruder.delete(f"/v1/me/sessions/{first_session}", headers=CSRF)
        assert (ended.status_code, ended.json()["error"]["code"]) == (404, "session_not_found")
        export = await intruder.get("/v1/me/export")
        assert first_id not in export.text
        assert first_session not in export.text
    assert (await login_app.client.get("/v1/me")).status_code == 200


async def test_deleting_the_account_ends_every_session_at_once(login_app):
    person = login_app.provider.person()
    await sign_in(login_app, login_app.client, person)
    async with login_app.browser() as phone:
        await sign_in(login_app, phone, person)
        export = (await phone.get("/v1/me/export")).json()["identity"]
        assert [s["current"] for s in (await phone.get("/v1/me/sessions")).json()] == [False, True]
        assert len(export["page_sessions"]) == 2
        assert [login["provider"] for login in export["logins"]] == ["iam"]
        secret = phone.cookies["oo_session"]
        deleted = await phone.delete("/v1/me", headers=CSRF)
        assert deleted.status_code == 202, deleted.text
        assert (await phone.get("/v1/me")).status_code == 401
    assert (await login_app.client.get("/v1/me")).status_code == 401
    assert secret not in str(export)
    # The same login afterwards is a new person: the old identity went with the account.
    async with login_app.browser() as later:
        await sign_in(login_app, later, person)
        assert (await later.get("/v1/me")).json()["user_id"] != export["user_id"]


async def test_a_posted_callback_is_only_for_a_provider_that_posts(login_app):
    login_app.provider.signs_in(login_app.provider.person())
    back = await login_app.provider.authorize((await start(login_app.client)).headers["location"])
    posted = await login_app.client.post(back.path, data=callback_params(back))
    assert (posted.status_code, posted.json()["error"]["code"]) == (400, "invalid_callback")


async def test_a_provider_that_posts_its_answer_signs_in_by_form_post(login_app):
    """Apple's way: `response_mode=form_post` asked for, the code and state posted back as a form."""
    person = login_app.provider.person()
    login_app.provider.signs_in(person)
    started = await start(login_app.client, "iam-post")
    assert httpx.URL(started.headers["location"]).params["response_mode"] == "form_post"
    back = await login_app.provider.authorize(started.headers["location"])
    fields = callback_params(back)
    redirected = await login_app.client.get(back.path, params=fields)  # the answer by redirect is refused
    assert (redirected.status_code, redirected.json()["error"]["code"]) == (400, "invalid_callback")
    posted = await login_app.client.post(back.path, data=fields)
    assert (posted.status_code, posted.headers["location"]) == (303, "/")
    assert (await login_app.client.get("/v1/me")).json()["method"] == "session"
    replayed = await login_app.client.post(back.path, data=fields)
    assert (replayed.status_code, replayed.json()["error"]["code"]) == (400, "login_state_mismatch")
    not_a_form = await login_app.client.post(back.path, json=fields)
    assert (not_a_form.status_code, not_a_form.json()["error"]["code"]) == (400, "invalid_callback")


async def test_the_pre_auth_cookie_of_a_posting_provider_crosses_sites_in_production(login_app):
    transport = httpx.ASGITransport(app=login_app.client._transport.app, client=("203.0.113.9", 443))
    async with httpx.AsyncClient(transport=transport, base_url="https://oo.example") as browser:
        started = await browser.get("/v1/auth/login/iam-post")
    [cookie] = started.headers.get_list("set-cookie")
    assert cookie.startswith("__Host-oo_login=")
    assert cookie.split(";", 1)[1] == " HttpOnly; Max-Age=600; Path=/; SameSite=none; Secure"


def test_apples_client_secret_is_an_es256_jwt_by_the_team_key():
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    now = int(time.time())
    made = apple_client_secret(
        private_key_pem=pem, team_id="TEAM123456", key_id="KEY1234567", client_id="org.oo", now=now
    )
    public = ECKey.import_key(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    decoded = jwt.decode(made, public, algorithms=["ES256"])
    assert decoded.header == {"alg": "ES256", "kid": "KEY1234567", "typ": "JWT"}
    assert decoded.claims == {"iss": "TEAM123456", "iat": now, "exp": now + 300, "aud": APPLE_ISSUER, "sub": "org.oo"}


def test_apple_and_google_are_configured_by_name():
    settings = AuthSettings(
        oidc_providers={
            "google": {"client_id": "g", "client_secret": "s"},
            "apple": {"client_id": "a", "team_id": "T", "key_id": "K", "private_key": "pem"},
        }
    )
    assert settings.issuer_of("google") == "https://accounts.google.com"
    assert settings.issuer_of("apple") == APPLE_ISSUER
    assert (settings.response_mode_of("apple"), settings.response_mode_of("google")) == ("form_post", "query")
    assert settings.display_name_of("apple") == "Apple"
    with pytest.raises(ValueError, match="issuer"):
        AuthSettings(oidc_providers={"corp": {"client_id": "c", "client_secret": "s"}})
    with pytest.raises(ValueError, match="https"):
        AuthSettings(oidc_providers={"corp": {"client_id": "c", "client_secret": "s", "issuer": "http://idp.example"}})


def test_session_secrets_are_256_bits_and_never_repeat():
    made = [new_secret() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(len(s) == 43 and s.replace("-", "").replace("_", "").isalnum() for s in made)


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (CHROME_ANDROID, "Chrome on Android"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605 Version/17.0 Safari/604.1",
            "Safari on iPhone",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
        (None, "A browser"),
    ],
)
def test_a_device_label_is_coarse(agent, label):
    assert device_label(agent) == label
