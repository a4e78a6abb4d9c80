"""Settings of the api and worker processes, composed from each module's own settings class.

Every value comes from an `OO_*` environment variable (or `.env.local`); DATABASE_URL is the one
conventional exception. A wrong value stops start-up with the variable's name and what it expects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.auth.settings import AuthSettings
from services.events.settings import EventsSettings, RelaySettings
from services.gateway.settings import GatewaySettings
from services.integrations.calendar.settings import CalendarSettings
from services.integrations.todoist.settings import TodoistSettings
from services.kernel.keyring import parse_keyring
from services.kernel.vault import KeyringError
from services.recommender.settings import RecommenderSettings


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "oo"


class CoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OO_", env_file=".env.local", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="Where the SQLite file and local keys live.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    auto_migrate: bool = Field(default=True, description="Upgrade the database to head at start-up.")
    receipt_key: SecretStr | None = Field(
        default=None, description="Key of the deletion receipts' HMAC; unset means a key file in OO_DATA_DIR."
    )
    deletion_resume_seconds: float = Field(default=30.0, gt=0, description="How often unfinished deletions resume.")
    vault_keyring: SecretStr | None = Field(
        default=None,
        description="The token vault's keyring as JSON (several keys by id, one current); unset means a key "
        "file in OO_DATA_DIR.",
    )

    @field_validator("vault_keyring")
    @classmethod
    def _a_keyring(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                parse_keyring(value.get_secret_value(), "OO_VAULT_KEYRING")
            except KeyringError as error:
                raise ValueError(str(error)) from None
        return value


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env.local", extra="ignore")

    database_url: str | None = Field(
        default=None, description="postgresql://… ; unset means a SQLite file in OO_DATA_DIR."
    )


class JobsSettings(BaseSettings):
    """Where jobs run (ADR 0032). On Postgres they are rows any process may run; on SQLite they are tasks
    of the api process."""

    model_config = SettingsConfigDict(env_prefix="OO_", env_file=".env.local", extra="ignore")

    embedded_jobs: bool = Field(
        default=True,
        description="The api process runs jobs too; false leaves them to `oo worker` (Postgres only).",
    )
    jobs_concurrency: int = Field(default=8, ge=1, le=256, description="Jobs one process runs at once.")
    jobs_heartbeat_seconds: float = Field(default=10.0, gt=0, description="How often a worker says it is alive.")
    jobs_stalled_seconds: float = Field(
        default=30.0, gt=0, description="A worker silent this long is gone: its running jobs are run again."
    )
    jobs_stalled_check_seconds: float = Field(default=60.0, gt=0, description="How often stalled jobs are sought.")
    jobs_shutdown_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a stopping process lets its running jobs finish before it aborts them (each is "
        "idempotent: an aborted one runs again at the next trigger or tick).",
    )
    token_refresh_seconds: float = Field(default=600.0, gt=0, description="How often expiring provider tokens renew.")
    token_refresh_margin_seconds: float = Field(
        default=1800.0, gt=0, description="A provider token ending within this long is renewed by the periodic job."
    )


class ConfigurationError(Exception):
    """Raised with one line per wrong variable."""


@dataclass(frozen=True)
class Settings:
    core: CoreSettings
    database: DatabaseSettings
    gateway: GatewaySettings
    events: EventsSettings
    recommender: RecommenderSettings
    todoist: TodoistSettings = field(default_factory=TodoistSettings)
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    jobs: JobsSettings = field(default_factory=JobsSettings)

    @property
    def database_url(self) -> str:
        return self.database.database_url or f"sqlite:///{self.core.data_dir / 'oo.sqlite3'}"


_SECTIONS: dict[str, tuple[type[BaseSettings], str]] = {
    "core": (CoreSettings, "OO_"),
    "database": (DatabaseSettings, ""),
    "gateway": (GatewaySettings, "OO_"),
    "events": (EventsSettings, "OO_EVENTS_"),
    "recommender": (RecommenderSettings, "OO_"),
    "todoist": (TodoistSettings, "OO_TODOIST_"),
    "calendar": (CalendarSettings, "OO_"),
    "auth": (AuthSettings, "OO_"),
    "relay": (RelaySettings, "OO_RELAY_"),
    "jobs": (JobsSettings, "OO_"),
}


def _is_secret(cls: type[BaseSettings], field: str) -> bool:
    """Whether a setting holds a secret, which a configuration error names but never repeats."""
    info = cls.model_fields.get(field)
    if info is None:
        return False
    # A setting made of parts, some secret (a provider's client secret), says so on its field.
    if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("secret") is True:
        return True
    return SecretStr in (info.annotation, *get_args(info.annotation))


def load_settings() -> Settings:
    loaded: dict[str, BaseSettings] = {}
    problems: list[str] = []
    for name, (cls, prefix) in _SECTIONS.items():
        try:
            loaded[name] = cls()
        except ValidationError as error:
            for item in error.errors():
                field = str(item["loc"][0]) if item["loc"] else "?"
                variable = f"{prefix}{field}".upper()
                given = "[secret]" if _is_secret(cls, field) else repr(item.get("input"))
                problems.append(f"{variable}={given}: {item['msg']}")
    if problems:
        raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(problems))
    return Settings(**loaded)  # type: ignore[arg-type]
