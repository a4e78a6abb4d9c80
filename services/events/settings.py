from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EventsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OO_EVENTS_", env_file=".env.local", extra="ignore")

    max_future_skew_seconds: int = Field(
        default=300, ge=0, le=86_400, description="How far past the server's clock an occurred_at may lie."
    )
    recent_buffer_size: int = Field(
        default=1000,
        ge=0,
        le=100_000,
        description="Events kept for the admin viewer; with NATS_URL, how many of the mirror's newest messages "
        "a filtered recent list looks through.",
    )
    # Where the operator's browser reaches the tools beside oO: the viewer links out to them, never
    # embeds them (their own login and their own origin stay theirs).
    mlflow_ui_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="The MLflow UI as the operator's browser reaches it (`OO_EVENTS_MLFLOW_UI_URL`); the event "
        "viewer links to it. Unset: no link.",
    )
    pipelines_ui_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="The pipelines' UI as the operator's browser reaches it (`OO_EVENTS_PIPELINES_UI_URL`); the "
        "event viewer links to it. Unset: no link.",
    )


class RelaySettings(BaseSettings):
    """The outbox relay to JetStream (run by the worker process) and the stream it fills."""

    model_config = SettingsConfigDict(
        env_prefix="OO_RELAY_", env_file=".env.local", extra="ignore", populate_by_name=True
    )

    nats_url: str | None = Field(
        default=None,
        validation_alias="NATS_URL",
        description="nats://host:port of a JetStream-enabled NATS; unset means no relay (events stay in the store).",
    )
    batch_size: int = Field(default=500, ge=1, le=4000, description="Rows published, acknowledged and marked at once.")
    idle_max_seconds: float = Field(
        default=1.0, gt=0, le=60, description="Longest pause between two looks at an empty outbox."
    )
    ack_timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="How long a batch waits for its acks.")
    stream_max_age_seconds: int = Field(
        default=7 * 86_400, ge=60, description="How long JetStream keeps a message (the stream's max age)."
    )
    stream_max_bytes: int = Field(default=1 << 30, ge=1 << 20, description="The stream's size before the oldest go.")
    duplicate_window_seconds: int = Field(
        default=120, ge=1, description="How long JetStream drops a message whose Nats-Msg-Id it has seen."
    )
