"""The composition root shared by the api process, the worker and the CLI.

It builds every module once, wires ports to implementations, and connects nothing at import time.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from services.auth.api import AuthModule
from services.events.api import EventsModule
from services.kernel.database import Database
from services.kernel.health import ReadinessCheck
from services.kernel.metrics import Metrics
from services.migrations.runner import migration_problem, upgrade_to_head
from services.profile.api import ProfileModule
from services.settings import Settings


@dataclass
class Container:
    settings: Settings
    database: Database
    metrics: Metrics
    events: EventsModule
    auth: AuthModule
    profile: ProfileModule

    def readiness(self) -> list[ReadinessCheck]:
        async def storage() -> str | None:
            await self.database.ping()
            return None

        async def migrations() -> str | None:
            return await migration_problem(self.database)

        return [ReadinessCheck("storage", storage), ReadinessCheck("migrations", migrations)]

    async def prepare_storage(self) -> None:
        if self.settings.core.auto_migrate:
            await upgrade_to_head(self.database)


def bootstrap(settings: Settings) -> Container:
    settings.core.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = Database(settings.database_url)
    metrics = Metrics()
    events = EventsModule(settings.events)
    auth = AuthModule(publisher=events.bus)
    profile = ProfileModule(
        database,
        identity=auth.identity,
        owners=[events.user_data],
        identity_owner=auth.user_data,
        receipt_key=_receipt_key(settings),
    )
    return Container(settings, database, metrics, events, auth, profile)


def _receipt_key(settings: Settings) -> bytes:
    if settings.core.receipt_key is not None:
        return settings.core.receipt_key.get_secret_value().encode()
    return _local_key(settings.core.data_dir / "receipt.key")


def _local_key(path: Path) -> bytes:
    """A per-installation secret, made on first run, readable by the owner only."""
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()
