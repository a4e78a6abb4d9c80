"""LLM candidates, made in the background: never in the path of `/v1/recommend`.

When a person's signals change (after the commit that stored them), an `llm_refresh` job is deferred
(ADR 0032: at most one waits per person, and one of theirs runs at a time): read the feature state, ask
ML to generate with the LLM, and cache what it wrote for `llm_cache_seconds`. Refreshes run at most
`llm_concurrency` at a time in a process, each person at most `llm_daily_budget` times a UTC day, and
only while the person lets oO process their signals (`core`) and an LLM read their context (`llm`;
ADR 0012, 0022), asked before the call and again where the answer is written. A failed generation
leaves the previous cache as it was; the rules serve meanwhile.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import structlog

from oo_contracts.consents import ConsentPurpose
from oo_contracts.events import INGESTIBLE_TYPES, EventEnvelope
from oo_contracts.jobs import Job, JobKind, Jobs, PersonJob
from oo_contracts.recommendation import FeatureModel, GenerateRequest, MlPort, OpaqueState
from services.kernel.unit_of_work import Transaction
from services.recommender.consents import ProcessingConsent
from services.recommender.repository import RecommenderRepository
from services.recommender.service import UserHold
from services.recommender.settings import RecommenderSettings

log = structlog.get_logger(__name__)
RECENT_DISMISSALS = 20


class LlmRefresher:
    def __init__(
        self,
        settings: RecommenderSettings,
        repository: RecommenderRepository,
        ml: MlPort,
        features: FeatureModel,
        transaction: Transaction,
        hold_active_user: UserHold,
        consent: ProcessingConsent,
        *,
        jobs: Jobs,
    ) -> None:
        self._settings = settings
        self._repository = repository
        self._ml = ml
        self._features = features
        self._transaction = transaction
        self._hold_active_user = hold_active_user
        self._consent = consent
        self._slots = asyncio.Semaphore(settings.llm_concurrency)
        self._jobs = jobs

    async def on_event(self, event: EventEnvelope) -> None:
        """A bus subscriber: a person's new signal makes their LLM candidates worth refreshing."""
        if event.type in INGESTIBLE_TYPES:
            await self._jobs.defer(PersonJob(kind=JobKind.llm_refresh, user_id=event.user_id))

    async def run(self, job: Job) -> None:
        """The `llm_refresh` job: at most `llm_concurrency` LLM calls at once in this process."""
        async with self._slots:
            await self.refresh(job.user_id)

    async def refresh(self, user_id: str, *, now: datetime | None = None) -> str:
        """One refresh; returns what happened (`ok`, `fallback:<reason>`, `not_allowed`, `over_budget`, or
        `user_gone` when the account's deletion began after the read: then nothing is written)."""
        now = now or datetime.now(UTC)
        day = now.date().isoformat()
        async with self._transaction(write=False) as uow:
            state = await self._repository.feature_state(uow, user_id)
            cache = await self._repository.llm_cache(uow, user_id)
            dismissed = await self._repository.dismissed_texts(uow, user_id, RECENT_DISMISSALS)
        if state is None:
            return "no_state"
        if not self._allowed(state):
            return "not_allowed"
        context = self._features.context(user_id, state, now)
        calls = cache.calls_on_day if cache is not None and cache.budget_day == day else 0
        if calls >= self._settings.llm_daily_budget:
            return "over_budget"
        response = await self._ml.generate(GenerateRequest(context=context, llm=True, avoid=dismissed))
        fresh = response.llm == "ok"
        async with self._transaction() as uow:
            # The person's row held until this commits: a deletion that begins meanwhile waits and then
            # erases this write too; one that began since the read leaves them gone, and this writes nothing.
            if not await self._hold_active_user(uow, user_id):
                return "user_gone"
            # A withdrawal committed during the call must not be undone by this write. The feature row's
            # lock orders this with the withdrawal's projection, which locks it too: one that commits
            # first is seen here; one that comes after deletes what this writes.
            current = await self._repository.feature_state(uow, user_id, lock=True)
            if current is None or not self._allowed(current):
                return "not_allowed"
            await self._repository.save_llm_cache(
                uow,
                user_id=user_id,
                candidates=[c.model_dump(mode="json") for c in response.candidates]
                if fresh
                else (cache.candidates if cache is not None else []),
                outcome=response.llm,
                generated_at=now if fresh or cache is None else cache.generated_at,
                expires_at=now + timedelta(seconds=self._settings.llm_cache_seconds)
                if fresh or cache is None
                else cache.expires_at,
                budget_day=day,
                calls_on_day=calls + 1,
            )
        log.info("llm_refresh", outcome=response.llm, candidates=len(response.candidates) if fresh else 0)
        return response.llm

    def _allowed(self, state: OpaqueState) -> bool:
        return self._consent.allows(state, ConsentPurpose.core) and self._consent.allows(state, ConsentPurpose.llm)
