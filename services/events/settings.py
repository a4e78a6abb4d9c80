from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EventsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OO_EVENTS_", env_file=".env.local", extra="ignore")

    max_future_skew_seconds: int = Field(
        default=300, ge=0, le=86_400, description="How far past the server's clock an occurred_at may lie."
    )
    recent_buffer_size: int = Field(default=1000, ge=0, le=100_000, description="Events kept for the admin viewer.")
