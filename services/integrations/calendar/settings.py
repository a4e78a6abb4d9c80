"""Settings of the calendar connectors: how often they refresh, how long a provider may take, and the
Google client oO is registered as (its endpoints overridable to point at a simulator)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CalendarSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OO_", env_file=".env.local", extra="ignore")

    calendar_refresh_seconds: float = Field(
        default=900.0, ge=5, description="How often every connected calendar is read again."
    )
    calendar_timeout_seconds: float = Field(
        default=15.0, gt=0, le=120, description="How long one read of a calendar provider may take."
    )
    calendar_ics_max_bytes: int = Field(
        default=5_000_000, ge=10_000, description="The largest calendar file an ICS link may answer with."
    )
    google_client_id: str | None = Field(default=None, description="oO's OAuth client at Google; unset: no Google.")
    google_client_secret: SecretStr | None = Field(default=None, description="That client's secret.")
    google_auth_url: str = Field(default="https://accounts.google.com/o/oauth2/v2/auth")
    google_token_url: str = Field(default="https://oauth2.googleapis.com/token")
    google_revoke_url: str = Field(default="https://oauth2.googleapis.com/revoke")
    google_api_url: str = Field(default="https://www.googleapis.com/", description="Google's API root.")
    google_redirect_uri: str | None = Field(
        default=None,
        description="The callback URL registered at Google; unset: this server's own "
        "`/v1/integrations/google_calendar/callback` as the browser reached it.",
    )

    @property
    def google_configured(self) -> bool:
        return bool(self.google_client_id and self.google_client_secret)
