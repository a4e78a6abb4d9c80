"""Login through a real OIDC provider (Canaille, started by the suite), on SQLite and Postgres."""

from __future__ import annotations

from tests.oidc_provider import LoginApp, callback_params


async def sign_in(app: LoginApp, browser, person, provider: str = "iam", **replace: str):
    app.provider.signs_in(person)
    started = await browser.get(f"/v1/auth/login/{provider}")
    assert started.status_code == 302, started.text
    back = await app.provider.authorize(started.headers["location"], **replace)
    return await browser.get(back.path, params=callback_params(back))


async def test_a_full_login(login_app):
    person = login_app.provider.person()
    done = await sign_in(login_app, login_app.client, person)
    assert done.status_code == 303, done.text
    me = await login_app.client.get("/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["method"] == "session"
