"""The composition root shared by the api process, the worker and the CLI.

It builds every module once, wires ports to implementations, and connects nothing at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.features.model import IncrementalFeatures
from ml.serving.app import LlmOutcomeCollector
from ml.serving.engine import MlEngine
from ml.serving.settings import LlmSettings
from oo_contracts.consents import granted_by_default
from oo_contracts.recommendation import MlPort
from services.auth.api import SIGNING_KEYS_FILE, AuthModule
from services.events.api import ALL_TYPES, EventsModule
from services.integrations.api import CalendarConnectors, IntegrationsModule, calendar_connectors
from services.kernel.database import Database
from services.kernel.health import ReadinessCheck
from services.kernel.job_runner import InProcessJobs, JobMetrics, JobRunner
from services.kernel.keyring import KEYRING_FILE_NAME, FixedKeyring, KeyringFile, parse_keyring
from services.kernel.metrics import Metrics
from services.kernel.ports import SealedStore
from services.kernel.private_files import read_or_make_key
from services.kernel.rate_limits import CREDENTIALS, RateLimiter
from services.kernel.vault import TokenVault
from services.migrations.runner import migration_problem, upgrade_to_head
from services.profile.api import ProfileModule, consent_records
from services.recommender.api import HttpMl, RecommenderModule
from services.schedule import handlers, periodic
from services.settings import Settings


@dataclass
class Container:
    settings: Settings
    database: Database
    metrics: Metrics
    events: EventsModule
    auth: AuthModule
    recommender: RecommenderModule
    profile: ProfileModule
    keyring: FixedKeyring | KeyringFile
    vault: TokenVault
    integrations: IntegrationsModule
    calendars: CalendarConnectors
    jobs: JobRunner

    @property
    def sealed_stores(self) -> list[SealedStore]:
        """Every table of vault ciphertexts, for `oo vault status` and `oo vault rotate`."""
        return [self.integrations.sealed]

    def readiness(self) -> list[ReadinessCheck]:
        async def storage() -> str | None:
            await self.database.ping()
            return None

        async def migrations() -> str | None:
            return await migration_problem(self.database)

        return [
            ReadinessCheck("storage", storage, failed="the database cannot be reached"),
            ReadinessCheck("migrations", migrations, failed="the database's schema version cannot be read"),
        ]

    async def close(self) -> None:
        await self.jobs.close()
        await self.integrations.close()
        await self.recommender.close()
        await self.events.close()
        await self.database.dispose()

    async def prepare_storage(self) -> None:
        if self.settings.core.auto_migrate:
            await upgrade_to_head(self.database)


def bootstrap(settings: Settings) -> Container:
    settings.core.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = Database(settings.database_url)
    metrics = Metrics()
    # ADR 0012, 0022: on a person's own machine they chose oO (and the LLM proxy); elsewhere each opts in.
    defaults = granted_by_default(settings.gateway.local_mode)
    consents = consent_records(defaults)
    events = EventsModule(settings.events, consents, settings.relay)
    rate_limits = RateLimiter({CREDENTIALS: settings.gateway.credential_rate_limits})
    auth = AuthModule(
        publisher=events.bus,
        signing_keys=settings.core.data_dir / SIGNING_KEYS_FILE,
        rate_limits=rate_limits,
        settings=settings.auth,
        public_url=settings.gateway.public_url,
    )
    ml = _ml(settings)
    if isinstance(ml, MlEngine) and ml.llm is not None:
        metrics.registry.register(LlmOutcomeCollector(ml.llm.outcomes))
    jobs = _jobs(settings, database, metrics)
    keyring = _keyring(settings)
    vault = TokenVault(keyring)
    integrations = IntegrationsModule(
        vault,
        publisher=events.bus,
        transaction=database.transaction,
        consents=consents,
        hold_active_user=auth.identity.hold_active_user,
        jobs=jobs,
        todoist=settings.todoist,
        metrics=metrics,
    )
    llm_tips = settings.recommender.llm_tips
    recommender = RecommenderModule(
        settings.recommender,
        ml,
        IncrementalFeatures(),
        events.bus,
        database.transaction,
        auth.identity.hold_active_user,
        granted_by_default=defaults,
        llm_tips=(isinstance(ml, MlEngine) and ml.llm is not None) if llm_tips is None else llm_tips,
        titles=integrations.titles,
        connections=integrations.view,
        consent_states=consents,
        jobs=jobs,
    )
    events.bus.project(recommender.feature_projection)
    events.bus.project(recommender.consent_withdrawals)
    events.bus.project(recommender.learning_reset)
    if recommender.llm_refresher is not None:
        events.bus.subscribe(ALL_TYPES, recommender.llm_refresher.on_event)
    events.bus.subscribe("recommender.tip_reacted.v1", integrations.view.on_tip_reacted)
    calendars = calendar_connectors(
        integrations,
        settings.calendar,
        transaction=database.transaction,
        consents=consents,
        publisher=events.bus,
        local_mode=settings.gateway.local_mode,
    )
    profile = ProfileModule(
        database,
        identity=auth.identity,
        owners=[events.user_data, recommender.user_data, integrations.user_data],
        identity_owner=auth.user_data,
        receipt_key=_receipt_key(settings),
        consents=consents,
        publisher=events.bus,
        integrations=integrations,
        # The person's jobs go after their rows (a job deferred meanwhile goes too), before JetStream.
        message_stores=[jobs, events.jetstream] if events.jetstream is not None else [jobs],
    )
    events.bus.project(profile.consent_projection)
    auth.account_deletion = profile.privacy
    container = Container(
        settings, database, metrics, events, auth, recommender, profile, keyring, vault, integrations, calendars, jobs
    )
    jobs.register(handlers(container), periodic(container))
    return container


def _jobs(settings: Settings, database: Database, metrics: Metrics) -> JobRunner:
    """Durable jobs in Postgres, shared by every process; on SQLite, tasks of the one process (ADR 0032)."""
    job_metrics = JobMetrics(metrics.registry)
    jobs = settings.jobs
    if database.dialect == "postgresql":
        # procrastinate and psycopg take a quarter of a second to import: the embedded default never needs them.
        from services.kernel.job_queue import PostgresJobs

        return PostgresJobs(
            settings.database_url,
            job_metrics,
            concurrency=jobs.jobs_concurrency,
            heartbeat_seconds=jobs.jobs_heartbeat_seconds,
            stalled_seconds=jobs.jobs_stalled_seconds,
            stalled_check_seconds=jobs.jobs_stalled_check_seconds,
            shutdown_seconds=jobs.jobs_shutdown_seconds,
        )
    return InProcessJobs(job_metrics, concurrency=jobs.jobs_concurrency)


def _ml(settings: Settings) -> MlPort:
    """ML in process by default (the same engine `oo ml serve` runs); over HTTP when OO_ML_URL is set."""
    if settings.recommender.ml_url:
        return HttpMl(
            settings.recommender.ml_url,
            timeout=settings.recommender.ml_timeout_seconds,
            llm_timeout=settings.recommender.ml_llm_timeout_seconds,
        )
    return MlEngine(llm=LlmSettings().generator())


def _keyring(settings: Settings) -> FixedKeyring | KeyringFile:
    """The vault's keys: the keyring of OO_VAULT_KEYRING, or the data directory's key file (made on the
    first start)."""
    if settings.core.vault_keyring is not None:
        where = "OO_VAULT_KEYRING"
        return FixedKeyring(parse_keyring(settings.core.vault_keyring.get_secret_value(), where), where)
    return KeyringFile.open_or_make(settings.core.data_dir / KEYRING_FILE_NAME)


def _receipt_key(settings: Settings) -> bytes:
    if settings.core.receipt_key is not None:
        return settings.core.receipt_key.get_secret_value().encode()
    return read_or_make_key(settings.core.data_dir / "receipt.key")
