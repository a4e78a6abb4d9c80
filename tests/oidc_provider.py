"""A real OIDC provider for the login tests: Canaille, started by `pytest-iam` once per test process on
loopback, with oO registered as its clients, and a person who signs in there.

The provider's own login screen is skipped (`iam_server.login(person)`) and consent given ahead
(`iam_server.consent(person)`): what is tested is oO's side of the protocol, over real HTTP.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from services.app import create_app
from services.auth.settings import AuthSettings, OidcProvider
from services.bootstrap import Container, bootstrap
from services.gateway.settings import GatewaySettings
from services.settings import Settings
from tests.conftest import LOOPBACK

# `iam-post` is configured with `response_mode=form_post`, as Apple is (Canaille itself redirects; the
# tests post its answer back as Apple's form does).
CLIENT_NAMES = ("iam", "iam-two", "iam-post")


@dataclass
class Provider:
    """The provider as oO's tests use it: its issuer, oO's registrations there, and its people."""

    server: Any  # pytest_iam.Server
    issuer: str
    clients: dict[str, tuple[str, str]]  # oO's provider name -> (client id, client secret)

    def person(self) -> Any:
        user = self.server.random_user(user_name=f"p{uuid.uuid4().hex[:10]}")
        self.server.consent(user)
        return user

    def signs_in(self, user: Any) -> None:
        self.server.login(user)

    def forget_codes(self) -> None:
        """Drop the authorization codes a test left unused. Canaille's in-memory backend answers a query
        on several attributes with the rows matching *any* of them, so a code left over from another
        flow of the same client is found for `(code, client)` — its PKCE challenge fails — and for
        `(client, nonce)` — any nonce looks used. With none left over, each query finds its own."""
        with self.server.app.app_context():
            for code in self.server.backend.query(self.server.models.AuthorizationCode):
                self.server.backend.delete(code)

    def providers(self, **extra: OidcProvider) -> dict[str, OidcProvider]:
        """oO's OO_OIDC_PROVIDERS for this provider: one name per registration, and any `extra`."""
        return {
            name: OidcProvider(
                issuer=self.issuer,
                client_id=client_id,
                client_secret=SecretStr(secret),
                response_mode="form_post" if name == "iam-post" else None,
            )
            for name, (client_id, secret) in self.clients.items()
        } | extra

    async def authorize(self, authorization_url: str, **replace: str) -> httpx.URL:
        """What a browser does at the provider: follow the authorization URL (its parameters changed by
        `replace`, as an attacker might) to the redirect back to oO; the URL it redirects to."""
        if replace:
            url = httpx.URL(authorization_url)
            params = dict(url.params) | replace
            authorization_url = str(url.copy_with(params=params))
        async with httpx.AsyncClient(timeout=10) as browser:
            answer = await browser.get(authorization_url)
            assert answer.status_code == 302, answer.text[:500]
        return httpx.URL(answer.headers["location"])


def callback_params(url: httpx.URL) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(str(url)).query).items()}


@pytest.fixture(scope="session")
def oidc_provider(iam_server: Any) -> Provider:
    """Canaille on loopback, ready once pytest-iam's server thread serves (it binds before it returns);
    oO registered twice (two client ids at one issuer) with redirect URIs for the in-process app and
    for `oo serve`'s port given later by `register_redirect`."""
    issuer = iam_server.url.rstrip("/")
    clients = {}
    for name in CLIENT_NAMES:
        client_id, secret = f"oo-{name}-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(24)
        with iam_server.app.app_context():
            client = iam_server.models.Client(
                client_id=client_id,
                client_secret=secret,
                client_name=f"oO {name}",
                redirect_uris=[f"{LOOPBACK}/v1/auth/callback/{name}"],
                grant_types=["authorization_code"],
                response_types=["code"],
                scope=["openid"],
                token_endpoint_auth_method="client_secret_basic",
            )
            iam_server.backend.save(client)
        clients[name] = (client_id, secret)
    # Readiness: the discovery document answers (the server thread serves what it bound).
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{issuer}/.well-known/openid-configuration").json()["issuer"] == issuer
    return Provider(iam_server, issuer, clients)


def register_redirect(provider: Provider, name: str, uri: str) -> None:
    server = provider.server
    with server.app.app_context():
        client = server.backend.get(server.models.Client, client_id=provider.clients[name][0])
        server.backend.update(client, redirect_uris=[*client.redirect_uris, uri])
        server.backend.save(client)


def login_settings(settings: Settings, providers: dict[str, OidcProvider], **auth: Any) -> Settings:
    return dataclasses.replace(
        settings,
        gateway=GatewaySettings(local_mode=False),
        auth=AuthSettings(oidc_providers=providers, **auth),
    )


@dataclass
class LoginApp:
    container: Container
    client: httpx.AsyncClient
    provider: Provider

    def browser(self) -> httpx.AsyncClient:
        """Another browser: its own cookie jar, the same app."""
        transport = httpx.ASGITransport(app=self.client._transport.app, client=("127.0.0.1", 50001))  # type: ignore[attr-defined]
        return httpx.AsyncClient(transport=transport, base_url=LOOPBACK)


@pytest.fixture
async def login_app(settings: Settings, oidc_provider: Provider) -> AsyncIterator[LoginApp]:
    """oO in server mode with the provider configured under both its names, on SQLite and Postgres."""
    oidc_provider.forget_codes()
    container = bootstrap(login_settings(settings, oidc_provider.providers()))
    await container.prepare_storage()
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
            yield LoginApp(container, client, oidc_provider)
    await container.database.dispose()
