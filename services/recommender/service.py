"""Use cases of the recommender: one tip now (or silence), and learning from the reaction to it."""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Row

from oo_contracts.consents import ConsentPurpose
from oo_contracts.events import Reaction, TipReacted, TipShown
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
    render_titles,
    text_fingerprint,
    titles_in,
)
from services.kernel.errors import Conflict, NotFound, Unauthenticated, Unavailable
from services.kernel.ports import Caller, EventPublisher, TaskTitles
from services.kernel.unit_of_work import Transaction, UnitOfWork
from services.recommender.consents import ProcessingConsent
from services.recommender.publishing import publish_one
from services.recommender.repository import DecisionInputs, RecommenderRepository, ShownDecision

ACTIONS = [
    TipAction(reaction=Reaction.done, label="Done"),
    TipAction(reaction=Reaction.later, label="Later"),
    TipAction(reaction=Reaction.dismiss, label="Not for me"),
]
NOTHING_TO_SUGGEST_RETRY_SECONDS = 1800
POLICY_RACE_ATTEMPTS = 5
UserHold = Callable[[UnitOfWork, str], Awaitable[bool]]


class WithoutProviders:
    """`TaskTitles` of a deployment with no provider connected: no provider task has a title to give."""

    async def titles(self, user_id: str, task_ids: Sequence[str]) -> dict[str, str]:
        return dict.fromkeys(task_ids, "a task")


class _PolicyMoved(Exception):
    """Another reaction updated the person's policy between this one's read and its write."""


class RecommendService:
    """Each use case reads a snapshot in a short transaction, decides through `MlPort` with no
    transaction open (the ML sidecar may take seconds), and records in a short one."""

    def __init__(
        self,
        repository: RecommenderRepository,
        ml: MlPort,
        features: FeatureModel,
        publisher: EventPublisher,
        transaction: Transaction,
        hold_active_user: UserHold,
        consent: ProcessingConsent,
        *,
        silence_retry_seconds: int,
        tip_hold_seconds: int = 0,
        hold_silence: bool = True,
        llm_tips: bool = False,
        seed_source: Callable[[], int] = lambda: secrets.randbits(63),
        titles: TaskTitles | None = None,
    ) -> None:
        self.seed_source = seed_source  # tests make decisions reproducible by replacing it
        self._repository = repository
        self._ml = ml
        self._features = features
        self._publisher = publisher
        self._transaction = transaction
        self._hold_active_user = hold_active_user
        self._consent = consent
        self._silence_retry = silence_retry_seconds
        self._tip_hold = timedelta(seconds=tip_hold_seconds)
        self._hold_silence = hold_silence
        self._llm_tips = llm_tips
        self._titles: TaskTitles = titles or WithoutProviders()

    async def recommend(
        self, caller: Caller, request: RecommendRequest, *, now: datetime | None = None
    ) -> RecommendResponse:
        now = now or datetime.now(UTC)
        snapshot = await self._read(caller)
        # Before anything else: without `core`, nothing of the person is processed, not even the request's
        # context (ADR 0022). Read from the snapshot's feature state: no statement of its own.
        self._consent.require_core(snapshot.state)
        user_id = snapshot.user_id
        observed = self._features.context_update(snapshot.state, request.timezone, request.device_class)
        if observed is not None:
            async with self._recording(user_id) as uow:
                await self._publish(uow, "recommender.context_observed.v1", user_id, now, observed)
            snapshot = await self._read(caller)
        context = self._features.context(user_id, snapshot.state, now)
        quiet_minutes = context.features.quiet_minutes_left
        if quiet_minutes > 0:  # before the held answer: quiet hours silence even a tip on show
            return await self._quiet(user_id, context, now, quiet_minutes)
        held = self._held(snapshot, now)
        if held is not None:
            return await self._rendered(user_id, held)
        llm_allowed = self._consent.allows(snapshot.state, ConsentPurpose.llm)
        cached = _fresh_llm_candidates(snapshot.inputs.llm_cache, now) if llm_allowed else []
        candidates = (await self._ml.generate(GenerateRequest(context=context, cached_llm=cached))).candidates
        ranked = await self._ml.rank(
            RankRequest(
                context=context,
                candidates=candidates,
                policy_state=snapshot.inputs.policy_state,
                seed=self.seed_source(),
            )
        )
        chosen = next((c for c in candidates if c.candidate_id == ranked.chosen), None)
        if ranked.chosen is not None and chosen is None:
            raise Unavailable("the ML policy chose a candidate it was not offered", code="ml_unavailable")
        answer = await self._record(snapshot, now, context, candidates, ranked, chosen)
        return await self._rendered(user_id, answer)

    async def _record(
        self,
        snapshot: _Snapshot,
        now: datetime,
        context: UserContext,
        candidates: list[TipCandidate],
        ranked: RankResponse,
        chosen: TipCandidate | None,
    ) -> RecommendResponse:
        """The decision, its event and the projection in one short write; the answer on show instead, if
        another ask recorded one since the snapshot."""
        user_id = snapshot.user_id
        async with self._recording(user_id) as uow:
            # The person's feature row is this decision's lock: two asks at once record one answer.
            await self._repository.lock_feature_row(uow, user_id)
            record = self._decision_record(user_id, now, context, candidates, ranked)
            if not await self._repository.add_decision_after(uow, snapshot.latest, **record):
                # Another ask recorded an answer since this one's read: show it if it holds, else record
                # this one after it (nothing else can slip in while this transaction holds the lock).
                latest = await self._repository.latest_decision(uow, user_id)
                meanwhile = self._held(replace(snapshot, latest=latest), now)
                if meanwhile is not None:
                    return meanwhile
                await self._repository.add_decision(uow, **record)
            decision_id: uuid.UUID = record["decision_id"]
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

    async def _rendered(self, user_id: str, response: RecommendResponse) -> RecommendResponse:
        """The answer with each provider task's title in its slot: only here, on its way to the person,
        does a provider's text meet a tip (ADR 0023). Outside any transaction: it may ask the provider."""
        tip = response.tip
        if tip is None:
            return response
        task_ids = titles_in(f"{tip.text} {tip.why}")
        if not task_ids:
            return response
        titles = await self._titles.titles(user_id, task_ids)
        shown = tip.model_copy(update={"text": render_titles(tip.text, titles), "why": render_titles(tip.why, titles)})
        return response.model_copy(update={"tip": shown})

    async def _read(self, caller: Caller) -> _Snapshot:
        """The caller and what a decision needs of them, in one short read."""
        async with self._transaction(write=False) as uow:
            principal = await caller.find(uow)
            if principal is not None:
                return await self._read_inputs(uow, principal.user_id)
        principal = await caller.make()  # local mode's very first request
        async with self._transaction(write=False) as uow:
            return await self._read_inputs(uow, principal.user_id)

    async def _read_inputs(self, uow: UnitOfWork, user_id: str) -> _Snapshot:
        # One statement reads the feature state, the policy state, the latest decision and, with LLM tips
        # on, the LLM cache.
        inputs = await self._repository.decision_inputs(uow, user_id, with_cache=self._llm_tips)
        state = inputs.feature_state or self._features.initial_state()
        return _Snapshot(user_id, inputs, state, inputs.latest, inputs.feature_updated_at)

    @asynccontextmanager
    async def _recording(self, user_id: str) -> AsyncIterator[UnitOfWork]:
        """A short write for a user still active: a deletion that began after the read waits for it, or
        it finds the user gone and writes nothing."""
        async with self._transaction() as uow:
            if not await self._hold_active_user(uow, user_id):
                raise Unauthenticated("this account is being deleted")
            yield uow

    def _decision_record(
        self,
        user_id: str,
        now: datetime,
        context: UserContext,
        candidates: list[TipCandidate],
        ranked: RankResponse,
    ) -> dict[str, Any]:
        """Every decision is logged with what off-policy evaluation needs."""
        return {
            "decision_id": uuid.uuid4(),
            "user_id": user_id,
            "created_at": now,
            "policy_version": ranked.policy_version,
            "candidates": [c.model_dump(mode="json") for c in candidates],
            "chosen": ranked.chosen,
            "propensity": ranked.propensity,
            "context": context.model_dump(mode="json"),
            "shadow": ranked.shadow,
            "effects": ranked.effects,
        }

    async def _quiet(self, user_id: str, context: UserContext, now: datetime, minutes_left: float) -> RecommendResponse:
        """Quiet hours are the person's rule, not the policy's choice: nothing is shown until they end."""
        silence = RankResponse(chosen=None, propensity=1.0, policy_version=QUIET_HOURS_POLICY_VERSION)
        record = self._decision_record(user_id, now, context, [], silence)
        async with self._recording(user_id) as uow:
            await self._repository.add_decision(uow, **record)  # the person's rule: recorded whatever came first
        return RecommendResponse(
            decision_id=record["decision_id"],
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

    def _held(self, snapshot: _Snapshot, now: datetime) -> RecommendResponse | None:
        """Like a watch face, the answer on show stays: a tip until the person reacts (or it gets stale),
        a silence until its `retry_after` ends or a new signal arrives. Opening the page twice, or on a
        second device, shows the same thing, and one glance is one decision."""
        latest = snapshot.latest
        if latest is None or latest.reaction is not None:
            return None
        if latest.chosen is None:
            return self._held_silence(latest, snapshot.signal_at, now)
        if not self._tip_hold or latest.created_at < now - self._tip_hold:
            return None
        candidate = _chosen_candidate(latest.candidates, latest.chosen)
        if candidate.source == "llm" and not self._consent.allows(snapshot.state, ConsentPurpose.llm):
            return None  # an LLM's tip is not shown again once the person withdrew `llm`
        if candidate.ref_id and self._features.done_since(snapshot.state, candidate.ref_id, latest.created_at):
            return None
        return RecommendResponse(decision_id=latest.decision_id, tip=_tip(candidate))

    def _held_silence(
        self, latest: ShownDecision, signal_at: datetime | None, now: datetime
    ) -> RecommendResponse | None:
        if not self._hold_silence or latest.policy_version == QUIET_HOURS_POLICY_VERSION:
            return None  # quiet hours are read from the clock at each ask
        silence = Silence.not_now if latest.candidates else Silence.nothing_to_suggest
        left = self._silence_seconds(silence) - (now - latest.created_at).total_seconds()
        if left <= 0 or (signal_at is not None and signal_at > latest.created_at):
            return None
        return RecommendResponse(decision_id=latest.decision_id, tip=None, silence=silence, retry_after=math.ceil(left))

    async def feedback(
        self, caller: Caller, request: FeedbackRequest, *, now: datetime | None = None
    ) -> FeedbackResponse:
        """Read the decision and the policy, learn with no transaction open, then record the reaction and
        the policy only if no other reaction moved the policy meanwhile (else learn again from the new)."""
        now = now or datetime.now(UTC)
        for _ in range(POLICY_RACE_ATTEMPTS):
            try:
                return await self._react(caller, request, now)
            except _PolicyMoved:
                continue
        raise Unavailable("the policy is being updated by other reactions; retry", code="policy_busy")

    async def _react(self, caller: Caller, request: FeedbackRequest, now: datetime) -> FeedbackResponse:
        decision = None
        async with self._transaction(write=False) as uow:
            principal = await caller.find(uow)
            if principal is not None:
                decision = await self._repository.reaction_inputs(uow, request.decision_id)
        if principal is None:  # local mode's very first request: no decision of theirs can exist yet
            principal = await caller.make()
        user_id = principal.user_id
        if decision is None or decision.user_id != user_id:
            # Another user's decision answers exactly like an unknown one: nothing about it leaks.
            raise NotFound("no such decision", code="decision_not_found")
        # Learning from a reaction is processing too: not without `core` (ADR 0022).
        self._consent.require_core(decision.feature_state or self._features.initial_state())
        if decision.chosen is None:
            raise Conflict("this decision showed nothing; there is nothing to react to", code="nothing_shown")
        if decision.reaction is not None:
            raise Conflict(f"this decision already has the reaction {decision.reaction!r}", code="already_reacted")
        candidate = _chosen_candidate(decision.candidates, decision.chosen)
        context = UserContext.model_validate(decision.context)
        learns = decision.policy_version != ONBOARDING_POLICY_VERSION
        learned = None
        if learns:
            update = FeedbackUpdate(
                context=context,
                candidate=candidate,
                reward=REWARDS[request.reaction],
                policy_state=decision.policy_state,
            )
            learned = (await self._ml.feedback(update)).policy_state
        async with self._recording(user_id) as uow:
            reason = request.reason.value if request.reason else None
            if not await self._repository.record_reaction(
                uow, request.decision_id, request.reaction.value, reason, now
            ):
                raise Conflict("this decision already has a reaction", code="already_reacted")
            if learned is not None:
                seen = decision.policy_observations
                if not await self._repository.replace_policy_state(
                    uow, user_id, decision.policy_version, seen, learned, now
                ):
                    raise _PolicyMoved
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
            await self._publish(uow, "recommender.tip_reacted.v1", user_id, now, reacted)
        return FeedbackResponse(decision_id=request.decision_id, reaction=request.reaction, learned=learns)

    async def _publish(self, uow: UnitOfWork, event_type: str, user_id: str, now: datetime, payload: Any) -> None:
        await publish_one(self._publisher, uow, event_type, user_id, now, payload)


@dataclass(frozen=True)
class _Snapshot:
    """What a decision reads, in one short read transaction."""

    user_id: str
    inputs: DecisionInputs
    state: OpaqueState
    latest: ShownDecision | None
    signal_at: datetime | None  # when the person's last signal was folded in


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
