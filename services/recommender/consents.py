"""What the recommender asks before it processes, and what it deletes when a purpose is withdrawn
(ADR 0022).

The person's answers for `core` and `llm` reach the recommender as events, folded into the feature
state by its projection in the transaction that records them: the check reads the state each use case
reads anyway, so it costs no statement of its own.
"""

from __future__ import annotations

from oo_contracts.consents import ConsentPurpose
from oo_contracts.events import EventEnvelope
from oo_contracts.recommendation import FeatureModel, OpaqueState
from services.kernel.errors import Conflict
from services.kernel.unit_of_work import UnitOfWork
from services.recommender.repository import RecommenderRepository


class ProcessingConsent:
    """Whether the person lets oO process for a purpose: their latest answer in the feature state, else
    the deployment's default."""

    def __init__(self, features: FeatureModel, granted_by_default: frozenset[ConsentPurpose]) -> None:
        self._features = features
        self._defaults = granted_by_default

    def allows(self, state: OpaqueState, purpose: ConsentPurpose) -> bool:
        choice = self._features.processing_choice(state, purpose)
        return purpose in self._defaults if choice is None else choice

    def require_core(self, state: OpaqueState) -> None:
        if not self.allows(state, ConsentPurpose.core):
            raise Conflict(
                "you withdrew (or never granted) consent to oO processing your signals (purpose `core`); "
                "grant it with PUT /v1/me/consents to get tips again",
                code="consent_required",
            )


def withdrawn(event: EventEnvelope) -> ConsentPurpose | None:
    """The purpose an event withdraws, if it withdraws one."""
    if event.type == "profile.consent_set.v1" and not event.payload["granted"]:
        return ConsentPurpose(event.payload["purpose"])
    if event.type == "profile.llm_processing_set.v1" and not event.payload["allowed"]:
        return ConsentPurpose.llm
    return None


class ConsentWithdrawals:
    """A bus projection: what the recommender produced under a purpose is deleted in the transaction
    that withdraws it. `llm`: the cached LLM candidates. `core`: those, and the policy learnt from the
    person's reactions. What the person gave (signals, settings) and what happened (the decision log)
    stay theirs, unprocessed, until they grant again or delete the account."""

    def __init__(self, repository: RecommenderRepository) -> None:
        self._repository = repository

    async def __call__(self, uow: UnitOfWork, events: list[EventEnvelope]) -> None:
        for event in events:
            purpose = withdrawn(event)
            if purpose in (ConsentPurpose.llm, ConsentPurpose.core):
                await self._repository.delete_llm_cache(uow, event.user_id)
            if purpose is ConsentPurpose.core:
                await self._repository.delete_policy_state(uow, event.user_id)
