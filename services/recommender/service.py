"""Use cases of the recommender: one tip now (or silence), and learning from the reaction to it."""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Row

from oo_contracts.events import Reaction, TipReacted, TipShown, envelope
from oo_contracts.identity import Principal
from oo_contracts.recommendation import (
    ONBOARDING_POLICY_VERSION,
    QUIET_HOURS_POLICY_VERSION,
    REWARDS,
    FeatureModel,
    FeedbackRequest,
    FeedbackResponse,
    FeedbackUpdate,
    GenerateRequest,
    HabitSetting,
    MlPort,
    OpaqueState,
    RankRequest,
    RankResponse,
    RecommendRequest,
    RecommendResponse,
    Settings,
    Silence,
    Tip,
    TipAction,
    TipCandidate,
    UserContext,
    text_fingerprint,
)
from services.kernel.errors import Conflict, NotFound, Unavailable
from services.kernel.ports import EventPublisher
from services.kernel.unit_of_work import UnitOfWork
from services.recommender.repository import RecommenderRepository

ACTIONS = [
    TipAction(reaction=Reaction.done, label="Done"),
    TipAction(reaction=Reaction.later, label="Later"),
    TipAction(reaction=Reaction.dismiss, label="Not for me"),
]
NOTHING_TO_SUGGEST_RETRY_SECONDS = 1800


class RecommendService:
    def __init__(
        self,
        repository: RecommenderRepository,
        ml: MlPort,
        features: FeatureModel,
        publisher: EventPublisher,
        *,
        silence_retry_seconds: int,
        tip_hold_seconds: int = 0,
        llm_tips: bool = False,
        seed_source: Callable[[], int] = lambda: secrets.randbits(63),
    ) -> None:
        self.seed_source = seed_source  # tests make decisions reproducible by replacing it
        self._repository = repository
        self._ml = ml
        self._features = features
        self._publisher = publisher
        self._silence_retry = silence_retry_seconds
        self._tip_hold = timedelta(seconds=tip_hold_seconds)
        self._llm_tips = llm_tips

    async def recommend(
        self, uow: UnitOfWork, principal: Principal, request: RecommendRequest, *, now: datetime | None = None
    ) -> RecommendResponse:
        now = now or datetime.now(UTC)
        user_id = principal.user_id
        # One statement reads the feature state, the policy state and, with LLM tips on, the LLM cache.
        inputs = await self._repository.decision_inputs(uow, user_id, with_cache=self._llm_tips)
        state = inputs.feature_state or self._features.initial_state()
        observed = self._features.context_update(state, request.timezone, request.device_class)
        if observed is not None:
            await self._publish(uow, "recommender.context_observed.v1", user_id, now, observed)
            state = await self._repository.feature_state(uow, user_id) or state
        context = self._features.context(user_id, state, now)
        quiet_minutes = context.features.quiet_minutes_left
        if quiet_minutes > 0:  # before the held answer: quiet hours silence even a tip on show
            return await self._quiet(uow, user_id, context, now, quiet_minutes)
        held = await self._held(uow, user_id, state, now)
        if held is not None:
            return held
        cached = _fresh_llm_candidates(inputs.llm_cache, now)
        candidates = (await self._ml.generate(GenerateRequest(context=context, cached_llm=cached))).candidates
        ranked = await self._ml.rank(
            RankRequest(
                context=context,
                candidates=candidates,
                policy_state=inputs.policy_state,
                seed=self.seed_source(),
            )
        )
        chosen = next((c for c in candidates if c.candidate_id == ranked.chosen), None)
        if ranked.chosen is not None and chosen is None:
            raise Unavailable("the ML policy chose a candidate it was not offered", code="ml_unavailable")
        decision_id = await self._log_decision(uow, user_id, now, context, candidates, ranked)
        if chosen is None:
            silence = Silence.not_now if candidates else Silence.nothing_to_suggest
            return RecommendResponse(
                decision_id=decision_id, tip=None, silence=silence, retry_after=self._silence_seconds(silence)
            )
        shown = TipShown(
            decision_id=decision_id,
            candidate_id=chosen.candidate_id,
            kind=chosen.kind,
            source=chosen.source,
            local_hour=context.facts.local_time.hour,
        )
        await self._publish(uow, "recommender.tip_shown.v1", user_id, now, shown)
        return RecommendResponse(decision_id=decision_id, tip=_tip(chosen))

    async def _log_decision(
        self,
        uow: UnitOfWork,
        user_id: str,
        now: datetime,
        context: UserContext,
        candidates: list[TipCandidate],
        ranked: RankResponse,
    ) -> uuid.UUID:
        """Every decision is logged with what off-policy evaluation needs."""
        decision_id = uuid.uuid4()
        await self._repository.add_decision(
            uow,
            decision_id=decision_id,
            user_id=user_id,
            created_at=now,
            policy_version=ranked.policy_version,
            candidates=[c.model_dump(mode="json") for c in candidates],
            chosen=ranked.chosen,
            propensity=ranked.propensity,
            context=context.model_dump(mode="json"),
            shadow=ranked.shadow,
        )
        return decision_id

    async def _quiet(
        self, uow: UnitOfWork, user_id: str, context: UserContext, now: datetime, minutes_left: float
    ) -> RecommendResponse:
        """Quiet hours are the person's rule, not the policy's choice: nothing is shown until they end."""
        silence = RankResponse(chosen=None, propensity=1.0, policy_version=QUIET_HOURS_POLICY_VERSION)
        decision_id = await self._log_decision(uow, user_id, now, context, [], silence)
        return RecommendResponse(
            decision_id=decision_id,
            tip=None,
            silence=Silence.quiet_hours,
            retry_after=max(60, math.ceil(minutes_left * 60)),
        )

    def _silence_seconds(self, silence: Silence) -> int:
        return self._silence_retry if silence is Silence.not_now else NOTHING_TO_SUGGEST_RETRY_SECONDS

    async def settings(self, uow: UnitOfWork, principal: Principal, *, now: datetime | None = None) -> Settings:
        """The person's settings as the feature state holds them (each one set by an event)."""
        state = await self._repository.feature_state(uow, principal.user_id) or self._features.initial_state()
        facts = self._features.context(principal.user_id, state, now or datetime.now(UTC)).facts
        return Settings(
            timezone=facts.timezone,
            quiet_hours=facts.quiet_hours,
            habits=[HabitSetting.model_validate(h.model_dump()) for h in facts.habits],
        )

    async def _held(self, uow: UnitOfWork, user_id: str, state: OpaqueState, now: datetime) -> RecommendResponse | None:
        """Like a watch face, the answer on show stays: a tip until the person reacts (or it gets stale),
        a silence until its `retry_after` ends or a new signal arrives. Opening the page twice, or on a
        second device, shows the same thing, and one glance is one decision."""
        latest = await self._repository.latest_decision(uow, user_id)
        if latest is None or latest.reaction is not None:
            return None
        if latest.chosen is None:
            return await self._held_silence(uow, user_id, latest, now)
        if not self._tip_hold or latest.created_at < now - self._tip_hold:
            return None
        candidate = _chosen_candidate(latest.candidates, latest.chosen)
        if candidate.ref_id and self._features.done_since(state, candidate.ref_id, latest.created_at):
            return None
        return RecommendResponse(decision_id=latest.decision_id, tip=_tip(candidate))

    async def _held_silence(
        self, uow: UnitOfWork, user_id: str, latest: Row[Any], now: datetime
    ) -> RecommendResponse | None:
        if latest.policy_version == QUIET_HOURS_POLICY_VERSION:
            return None  # quiet hours are read from the clock at each ask
        silence = Silence.not_now if latest.candidates else Silence.nothing_to_suggest
        left = self._silence_seconds(silence) - (now - latest.created_at).total_seconds()
        signal_at = await self._repository.feature_state_updated_at(uow, user_id)
        if left <= 0 or (signal_at is not None and signal_at > latest.created_at):
            return None
        return RecommendResponse(decision_id=latest.decision_id, tip=None, silence=silence, retry_after=math.ceil(left))

    async def feedback(
        self, uow: UnitOfWork, principal: Principal, request: FeedbackRequest, *, now: datetime | None = None
    ) -> FeedbackResponse:
        now = now or datetime.now(UTC)
        decision = await self._repository.decision(uow, request.decision_id, lock=True)
        if decision is None or decision.user_id != principal.user_id:
            # Another user's decision answers exactly like an unknown one: nothing about it leaks.
            raise NotFound("no such decision", code="decision_not_found")
        if decision.chosen is None:
            raise Conflict("this decision showed nothing; there is nothing to react to", code="nothing_shown")
        if decision.reaction is not None:
            raise Conflict(f"this decision already has the reaction {decision.reaction!r}", code="already_reacted")
        candidate = _chosen_candidate(decision.candidates, decision.chosen)
        context = UserContext.model_validate(decision.context)
        learns = decision.policy_version != ONBOARDING_POLICY_VERSION
        if learns:
            await self._learn(uow, principal.user_id, decision.policy_version, context, candidate, request, now)
        if not await self._repository.record_reaction(
            uow, request.decision_id, request.reaction.value, request.reason.value if request.reason else None, now
        ):
            raise Conflict("this decision already has a reaction", code="already_reacted")
        reacted = TipReacted(
            decision_id=request.decision_id,
            candidate_id=candidate.candidate_id,
            kind=candidate.kind,
            source=candidate.source,
            reaction=request.reaction,
            reason=request.reason,
            ref_id=candidate.ref_id,
            local_hour=context.facts.local_time.hour,
            fingerprint=text_fingerprint(candidate.text)[:40] if request.reaction is Reaction.dismiss else None,
        )
        await self._publish(uow, "recommender.tip_reacted.v1", principal.user_id, now, reacted)
        return FeedbackResponse(decision_id=request.decision_id, reaction=request.reaction, learned=learns)

    async def _learn(
        self,
        uow: UnitOfWork,
        user_id: str,
        policy_version: str,
        context: UserContext,
        candidate: TipCandidate,
        request: FeedbackRequest,
        now: datetime,
    ) -> None:
        policy = await self._repository.policy_state(uow, user_id, lock=True)
        update = FeedbackUpdate(
            context=context,
            candidate=candidate,
            reward=REWARDS[request.reaction],
            policy_state=policy.state if policy else None,
        )
        learned = await self._ml.feedback(update)
        await self._repository.save_policy_state(
            uow, user_id, policy_version, (policy.observations if policy else 0) + 1, learned.policy_state, now
        )

    async def _publish(self, uow: UnitOfWork, event_type: str, user_id: str, now: datetime, payload: Any) -> None:
        event = envelope(
            event_id=uuid.uuid4(),
            event_type=event_type,
            user_id=user_id,
            occurred_at=now,
            source="recommender",
            payload=payload,
        )
        await self._publisher.publish(uow, [event])


def _tip(candidate: TipCandidate) -> Tip:
    return Tip(
        id=candidate.candidate_id,
        kind=candidate.kind,
        text=candidate.text,
        why=candidate.why,
        source=candidate.source,
        actions=ACTIONS,
        prompt=candidate.prompt,
    )


def _chosen_candidate(candidates: list[dict[str, Any]], chosen: str) -> TipCandidate:
    return TipCandidate.model_validate(next(c for c in candidates if c["candidate_id"] == chosen))


def _fresh_llm_candidates(cache: Row[Any] | None, now: datetime) -> list[TipCandidate]:
    """What the background LLM refresh wrote, while it is fresh (never generated in this path)."""
    if cache is None or cache.expires_at <= now:
        return []
    return [TipCandidate.model_validate(c) for c in cache.candidates]
