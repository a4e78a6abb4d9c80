from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Open tasks a tip may be about: late, due within two weeks, or undated. With it, a webhook's hint about
# one task is read alone (oO tells its window itself); with another filter every hint reads all pages.
DEFAULT_FILTER = "overdue | today | 14 days | no date"


class TodoistSettings(BaseSettings):
    """The Todoist app oO is registered as (App Management Console), and how often it reads Todoist."""

    model_config = SettingsConfigDict(env_prefix="OO_TODOIST_", env_file=".env.local", extra="ignore")

    client_id: str | None = Field(default=None, description="The app's client id; unset: Todoist is not offered.")
    client_secret: SecretStr | None = Field(
        default=None, description="The app's client secret: signs the token exchange and every webhook delivery."
    )
    redirect_uri: str | None = Field(
        default=None,
        description="The OAuth redirect URI registered for the app, oO's own `/v1/integrations/todoist/callback`.",
    )
    api_url: str = Field(
        default="https://api.todoist.com", description="Todoist's API origin (a simulator's, for tests and demos)."
    )
    oauth_url: str = Field(
        default="https://todoist.com/oauth", description="Todoist's OAuth base: `…/authorize`, `…/access_token`."
    )
    filter: str = Field(
        default=DEFAULT_FILTER,
        min_length=1,
        max_length=1024,
        description="The Todoist filter query a refresh reads: the open tasks a tip may be about.",
    )
    refresh_seconds: int = Field(default=600, ge=30, description="How often a connected person's tasks are read.")
    title_seconds: int = Field(default=1800, ge=60, description="How long a task's title stays in memory.")
    title_timeout_seconds: float = Field(
        default=2.0, gt=0, le=10, description="The budget for asking Todoist for one title a tip quotes."
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=60, description="Timeout of one call to Todoist.")
    max_tasks: int = Field(default=500, ge=1, le=5000, description="Open tasks read per refresh, at most.")

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret and self.redirect_uri)
