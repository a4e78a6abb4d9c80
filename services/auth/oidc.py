"""OIDC relying party through Authlib: discovery pinned to each configured issuer, authorization code
with PKCE S256 and a nonce, the ID token verified (signature from the issuer's JWKS, `iss`, `aud`,
`exp`, `nonce`, `at_hash`) by Authlib's `CodeIDToken` on joserfc. Nothing here parses a JWT by hand."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx2

# Authlib's httpx integration runs on httpx2: its errors are httpx2's.
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import StarletteOAuth2App
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import extract_compact

from services.auth.settings import APPLE_ISSUER, AuthSettings
from services.kernel.errors import ApiError, BadRequest

HTTP_TIMEOUT_SECONDS = 10.0
# Signatures by the issuer's published (public) keys; never `none`, never an HMAC.
ID_TOKEN_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
)
APPLE_SECRET_SECONDS = 300  # made for each exchange; Apple allows up to six months, a short one leaks less


class ProviderUnavailable(ApiError):
    """The provider could not be asked, or answered what a correct provider never would."""

    status_code = 502
    code = "provider_unavailable"


@dataclass(frozen=True)
class Authorization:
    url: str
    state: str


@dataclass(frozen=True)
class VerifiedIdentity:
    issuer: str
    subject: str


class _NoSessionFramework:
    """Authlib's apps keep state in a framework session; oO keeps it in its own table (see `login.py`),
    so the app is only asked to build URLs, exchange codes and verify ID tokens."""

    async def set_state_data(self, *_args: Any) -> None:
        raise RuntimeError("oO keeps login state server-side")


class OidcClients:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._apps: dict[str, StarletteOAuth2App] = {}
        for name, provider in settings.oidc_providers.items():
            issuer = settings.issuer_of(name)
            client_kwargs: dict[str, Any] = {
                "scope": "openid",
                "code_challenge_method": "S256",
                "timeout": HTTP_TIMEOUT_SECONDS,
            }
            if name == "apple":
                client_kwargs["token_endpoint_auth_method"] = "client_secret_post"  # noqa: S105 (a method's name)
            self._apps[name] = StarletteOAuth2App(
                _NoSessionFramework(),
                name=name,
                client_id=provider.client_id,
                client_secret=provider.client_secret.get_secret_value() if provider.client_secret else None,
                # OIDC Discovery §4: the document lives under the issuer; it is fetched from there alone.
                server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
                client_kwargs=client_kwargs,
            )

    def knows(self, name: str) -> bool:
        return name in self._apps

    async def metadata(self, name: str) -> dict[str, Any]:
        """The issuer's discovery document, refused (and forgotten) when it names another issuer."""
        app = self._apps[name]
        expected = self._settings.issuer_of(name)
        try:
            metadata: dict[str, Any] = await app.load_server_metadata()
        except (httpx2.HTTPError, ValueError) as error:
            app.server_metadata = {}
            raise ProviderUnavailable(f"{name}'s discovery document could not be read") from error
        if metadata.get("issuer") != expected:
            app.server_metadata = {}  # read again next time: a fixed provider is picked up then
            raise ProviderUnavailable(
                f"{name}'s discovery document names another issuer than {expected}", code="issuer_mismatch"
            )
        return metadata

    async def authorization(self, name: str, redirect_uri: str, *, state: str, nonce: str, verifier: str) -> str:
        await self.metadata(name)
        extra: dict[str, str] = {}
        if self._settings.response_mode_of(name) == "form_post":
            extra["response_mode"] = "form_post"
        made = await self._apps[name].create_authorization_url(
            redirect_uri, state=state, nonce=nonce, code_verifier=verifier, **extra
        )
        return str(made["url"])

    async def verify(
        self, name: str, redirect_uri: str, *, code: str, verifier: str, nonce: str, iss: str | None
    ) -> VerifiedIdentity:
        """Exchange the code (with its PKCE verifier) and verify the ID token; the issuer must be the one
        the flow started with, in the response's `iss` (RFC 9207) and in the ID token."""
        metadata = await self.metadata(name)
        issuer = self._settings.issuer_of(name)
        if iss is not None and iss != issuer:
            raise BadRequest(
                "the response comes from another issuer than the login started with", code="issuer_mismatch"
            )
        if iss is None and metadata.get("authorization_response_iss_parameter_supported") is True:
            raise BadRequest("the response lacks the issuer it must name (RFC 9207)", code="issuer_mismatch")
        app = self._apps[name]
        if name == "apple":
            app.client_secret = self._apple_client_secret()
        try:
            token = await app.fetch_access_token(redirect_uri=redirect_uri, code=code, code_verifier=verifier)
        except httpx2.HTTPError as error:
            raise ProviderUnavailable(f"{name} could not be reached to finish the login") from error
        except AuthlibBaseError as error:
            raise BadRequest(f"{name} refused the login's code", code="login_refused") from error
        return await self.identity_in(name, token, nonce)

    async def identity_in(self, name: str, token: dict[str, Any], nonce: str) -> VerifiedIdentity:
        """The (issuer, subject) of the token response's ID token, once it verifies: signed by a key of
        the issuer's JWKS (one refetch for an unknown `kid`), `iss` the configured issuer, `aud` and
        `azp` this client, unexpired, `nonce` this flow's, `at_hash` matching."""
        issuer = self._settings.issuer_of(name)
        if "id_token" not in token:
            raise BadRequest(f"{name} sent no ID token", code="invalid_id_token")
        # Authlib takes the algorithms the provider's discovery lists; one listing `none` (or an HMAC,
        # keyed with a secret oO shares) would have an unsigned or self-made token pass. Only a
        # signature by the issuer's published keys proves the issuer said it.
        if _algorithm(token["id_token"]) not in ID_TOKEN_ALGORITHMS:
            raise BadRequest(f"{name}'s ID token is not signed by its keys", code="invalid_id_token")
        try:
            claims = await self._apps[name].parse_id_token(
                token, nonce, claims_options={"iss": {"essential": True, "value": issuer}}, leeway=60
            )
        except (JoseError, AuthlibBaseError, ValueError) as error:
            raise BadRequest(f"{name}'s ID token does not verify", code="invalid_id_token") from error
        except httpx2.HTTPError as error:
            raise ProviderUnavailable(f"{name}'s keys could not be read") from error
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            raise BadRequest(f"{name}'s ID token names no subject", code="invalid_id_token")
        return VerifiedIdentity(issuer=issuer, subject=subject)

    def _apple_client_secret(self) -> str:
        provider = self._settings.oidc_providers["apple"]
        # AuthSettings refuses an apple provider without these.
        assert provider.private_key is not None
        assert provider.team_id
        assert provider.key_id
        return apple_client_secret(
            private_key_pem=provider.private_key.get_secret_value(),
            team_id=provider.team_id,
            key_id=provider.key_id,
            client_id=provider.client_id,
            now=int(time.time()),
        )


def apple_client_secret(*, private_key_pem: str, team_id: str, key_id: str, client_id: str, now: int) -> str:
    """Sign in with Apple's client secret: an ES256 JWT by the team's key, for Apple's audience."""
    key = ECKey.import_key(private_key_pem)
    claims = {"iss": team_id, "iat": now, "exp": now + APPLE_SECRET_SECONDS, "aud": APPLE_ISSUER, "sub": client_id}
    return jwt.encode({"alg": "ES256", "kid": key_id}, claims, key, algorithms=["ES256"])


def _algorithm(id_token: Any) -> str | None:
    try:
        algorithm = extract_compact(str(id_token).encode()).protected.get("alg")
    except (JoseError, ValueError):
        return None
    return algorithm if isinstance(algorithm, str) else None
