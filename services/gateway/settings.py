from ipaddress import ip_address
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kernel.rate_limits import DEFAULT_CREDENTIAL_LIMITS, parse_limits


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OO_", env_file=".env.local", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port to listen on.")
    local_mode: bool = Field(
        default=True,
        description="Serve one local user without login, on loopback only; off: every request needs a token or "
        "a session of the page (signed in through an OIDC provider, OO_OIDC_PROVIDERS).",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+$",
        description="The origin browsers reach oO at (`https://oo.example`), behind a proxy: login's redirect "
        "URIs and the origin a cookie's writes must come from. Unset: the request's own.",
    )
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="Largest request body accepted.")
    metrics: Literal["public", "off"] | None = Field(
        default=None,
        description="`/metrics` on the api's own port: `public` to whoever reaches the port, `off` not there; "
        "unset: public in local mode (loopback only), off otherwise.",
    )
    credential_rate_limits: str = Field(
        default=DEFAULT_CREDENTIAL_LIMITS,
        description="How often one client address may try or trade credentials (sign-in, token refresh), "
        "each rate of the list in force, e.g. `20/minute;200/hour`; past one: 429 with Retry-After.",
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address of the metrics' own listener.")
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Port of a listener serving only `/metrics`; unset: none."
    )

    @field_validator("credential_rate_limits")
    @classmethod
    def _rates(cls, value: str) -> str:
        parse_limits(value)
        return value

    def serves_metrics(self) -> bool:
        """Whether the api's own port serves `/metrics`: the numbers show how each route is used, which
        is no business of the public a server faces."""
        return (self.metrics or ("public" if self.local_mode else "off")) == "public"

    def bind_problem(self) -> str | None:
        """Why the server must not listen where asked, or None."""
        if self.local_mode and not self.binds_loopback():
            return (
                f"OO_HOST={self.host!r} is not a loopback address, and local mode (OO_LOCAL_MODE=true) serves "
                "anyone who can connect as the local user without login. Bind 127.0.0.1, or set "
                "OO_LOCAL_MODE=false so that every request needs a token or a login (OO_OIDC_PROVIDERS)."
            )
        if self.metrics_port == self.port:
            return f"OO_METRICS_PORT={self.metrics_port} is the api's own port (OO_PORT): give the metrics another"
        return None

    def binds_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ip_address(self.host).is_loopback
        except ValueError:
            return False
