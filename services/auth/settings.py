"""Settings of the auth module: the OIDC providers people sign in with, and how long a page's session lives."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kernel.browser import is_loopback

GOOGLE_ISSUER = "https://accounts.google.com"
APPLE_ISSUER = "https://appleid.apple.com"
# Google and Apple are configured by name: their issuer and the way each answers are known.
KNOWN_ISSUERS = {"google": GOOGLE_ISSUER, "apple": APPLE_ISSUER}
KNOWN_NAMES = {"google": "Google", "apple": "Apple"}
PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class OidcProvider(BaseModel):
    """One issuer oO accepts logins from (an OIDC client registered there, redirect URI
    `<public url>/v1/auth/callback/<name>`)."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, max_length=512)
    client_secret: SecretStr | None = Field(default=None, description="Not for Apple: its secret is a signed JWT.")
    issuer: str | None = Field(default=None, description="Required for any provider but `google` and `apple`.")
    display_name: str | None = Field(default=None, max_length=40, description="Shown as “Sign in with <name>”.")
    # Apple's client secret is an ES256 JWT signed with the team's key (Sign in with Apple, "Creating a
    # client secret"), made by oO for each token request.
    team_id: str | None = None
    key_id: str | None = None
    private_key: SecretStr | None = Field(default=None, description="Apple: the team key (PEM, P-256).")
    response_mode: Literal["query", "form_post"] | None = Field(
        default=None, description="How the provider answers; unset: `form_post` for Apple, `query` for the others."
    )


def _secure_issuer(issuer: str) -> bool:
    # Plain http only on loopback, as Authlib's transport check has it (RFC 8252 §7.3): a provider a
    # test suite or a developer runs on this machine.
    parts = urlsplit(issuer)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and is_loopback(parts.hostname)


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OO_", env_file=".env.local", extra="ignore")

    oidc_providers: dict[str, OidcProvider] = Field(
        default_factory=dict,
        json_schema_extra={"secret": True},
        description='JSON: `{"google": {"client_id": …, "client_secret": …}, "apple": {"client_id": …, "team_id": '
        '…, "key_id": …, "private_key": …}, "<name>": {"issuer": …, "client_id": …, "client_secret": …}}`.',
    )
    session_idle_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, description="A page's session unused this long ends (sign in again)."
    )
    session_absolute_seconds: int = Field(
        default=30 * 24 * 3600,
        ge=300,
        description="However much it is used, a page's session ends this long after login.",
    )
    apple_keys_url: str = Field(
        default="https://appleid.apple.com/auth/keys",
        description="Where Apple publishes the keys its server-to-server notifications are signed with.",
    )
    login_flow_seconds: int = Field(
        default=600, ge=30, le=3600, description="How long a started login may take at the provider."
    )

    @field_validator("oidc_providers")
    @classmethod
    def _named_and_complete(cls, providers: dict[str, OidcProvider]) -> dict[str, OidcProvider]:
        for name, provider in providers.items():
            if not PROVIDER_NAME.match(name):
                raise ValueError(f"provider name {name!r}: lowercase letters, digits and '-', 1–32 characters")
            known = KNOWN_ISSUERS.get(name)
            if known is not None and provider.issuer not in (None, known):
                raise ValueError(f"{name}: its issuer is {known}, not {provider.issuer!r}")
            if known is None and not provider.issuer:
                raise ValueError(f"{name}: an `issuer` is required for a provider other than google or apple")
            if provider.issuer and not _secure_issuer(provider.issuer):
                raise ValueError(f"{name}: the issuer must be an https URL (plain http only on loopback)")
            if name == "apple":
                if not (provider.team_id and provider.key_id and provider.private_key):
                    raise ValueError("apple: `team_id`, `key_id` and `private_key` make its client secret")
            elif provider.client_secret is None:
                raise ValueError(f"{name}: a `client_secret` is required")
        return providers

    @model_validator(mode="after")
    def _durations(self) -> AuthSettings:
        if self.session_idle_seconds > self.session_absolute_seconds:
            raise ValueError("OO_SESSION_IDLE_SECONDS must not exceed OO_SESSION_ABSOLUTE_SECONDS")
        return self

    def issuer_of(self, name: str) -> str:
        provider = self.oidc_providers[name]
        return KNOWN_ISSUERS.get(name) or str(provider.issuer)

    def display_name_of(self, name: str) -> str:
        provider = self.oidc_providers[name]
        return provider.display_name or KNOWN_NAMES.get(name) or name

    def response_mode_of(self, name: str) -> Literal["query", "form_post"]:
        # Apple posts the code back (and must, once a name or email is asked for); the others redirect.
        return self.oidc_providers[name].response_mode or ("form_post" if name == "apple" else "query")
