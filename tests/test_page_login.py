"""The page in server mode, in Chromium: `oo serve` with OO_LOCAL_MODE=false and the suite's OIDC
provider configured shows a sign-in screen; signing in goes to the provider and back, the page then
works as in local mode (its calls carry the cookie and the CSRF header), and "Sign out everywhere"
ends the session (its cookie is a 401 afterwards)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser

from tests.events_factory import daytime_zone
from tests.oidc_provider import Provider, register_redirect
from tests.page_harness import PHONE, screenshot, tip_text, until
from tests.postgres_cluster import free_port
from tests.test_processes import _env, running


@pytest.fixture(scope="module")
def server_mode(oidc_provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    register_redirect(oidc_provider, "iam", f"{url}/v1/auth/callback/iam")
    client_id, secret = oidc_provider.clients["iam"]
    providers = {"iam": {"issuer": oidc_provider.issuer, "client_id": client_id, "client_secret": secret}}
    env = _env(
        tmp_path_factory.mktemp("page-login"),
        OO_LOG_LEVEL="WARNING",
        OO_LOCAL_MODE="false",
        OO_OIDC_PROVIDERS=json.dumps(providers),
    )
    with running(env, "serve", "--port", str(port), url=f"{url}/ready"):
        yield url


def test_signing_in_through_the_provider_seeing_a_tip_and_signing_out_everywhere(
    browser: Browser, server_mode: str, oidc_provider: Provider
) -> None:
    oidc_provider.forget_codes()
    person = oidc_provider.person()
    oidc_provider.signs_in(person)
    context = browser.new_context(viewport=PHONE, timezone_id=daytime_zone())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(server_mode + "/")
    sign_in = page.get_by_role("link", name="Sign in with iam")
    sign_in.wait_for()
    screenshot(page, "login-sign-in-phone")
    sign_in.click()  # to the provider, and back signed in
    page.wait_for_url(server_mode + "/")
    [cookie] = [c for c in context.cookies() if c["name"] == "oo_session"]
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Lax", "/")

    # oO asks a server's new person before it uses their signals: the question, with its words, is the
    # face itself, and Allow is the answer.
    until(page, "() => document.getElementById('text').textContent === 'Welcome.'")
    assert page.locator("#welcome-words").inner_text().startswith("oO")
    screenshot(page, "login-welcome-phone")
    page.get_by_role("button", name="Allow").click()
    until(page, "() => document.getElementById('text').textContent === 'How are you right now?'")
    consents = httpx.get(f"{server_mode}/v1/me/consents", headers={"Cookie": f"oo_session={cookie['value']}"})
    [core] = [c for c in consents.json()["consents"] if c["purpose"] == "core"]
    assert (core["granted"], core["how"]) == (True, "page")
    assert tip_text(page) == "How are you right now?"  # the first tip of a new person
    screenshot(page, "login-first-tip-phone")

    page.keyboard.press("s")
    sessions = page.locator("#sessions-section")
    sessions.wait_for()
    assert "this one" in page.locator("#sessions").inner_text()
    page.get_by_role("button", name="Sign out everywhere").click()
    page.get_by_role("link", name="Sign in with iam").wait_for()
    screenshot(page, "login-signed-out-phone")

    old = httpx.get(f"{server_mode}/v1/me", headers={"Cookie": f"oo_session={cookie['value']}"})
    assert old.status_code == 401
    assert errors == []
    context.close()
