"""The ML sidecar's engine: candidates from the rules, one choice from the policy, learning from rewards.

`load_context()` once, `predict()` many (the MLflow pyfunc shape): the engine holds the policy
objects; every per-user state arrives in the request and leaves in the response, so the engine is
the same in process and behind HTTP.
"""

from __future__ import annotations

import numpy as np

from ml.experiments.learned import learned_sentences
from ml.experiments.linear_thompson import LinearThompson
from ml.experiments.product import PRODUCT_POLICY
from ml.serving.llm import LlmFailure, LlmTipGenerator
from ml.serving.llm_merge import merge_cached
from ml.serving.onboarding import ONBOARDING_SOURCE
from ml.serving.rules import generate
from oo_contracts.knowledge import LearnedRequest, LearnedResponse
from oo_contracts.recommendation import (
    ONBOARDING_POLICY_VERSION,
    FeedbackUpdate,
    GenerateRequest,
    GenerateResponse,
    OpaqueState,
    PolicyStateResponse,
    RankRequest,
    RankResponse,
)


class MlEngine:
    """Implements `oo_contracts.recommendation.MlPort` in process."""

    def __init__(self, policy: LinearThompson | None = None, llm: LlmTipGenerator | None = None) -> None:
        self.policy = policy or PRODUCT_POLICY
        self.llm = llm

    def _state(self, stored: OpaqueState | None) -> OpaqueState:
        """The person's state for this policy; one another policy version left (other features, another
        shape) starts over from this policy's prior."""
        if stored is None or stored.get("version") != self.policy.version:
            return self.policy.initial_state()
        return stored

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        # The person's explicit no stops generation here too, whatever the caller asked (ADR 0022).
        withdrawn = request.context.facts.llm_processing is False
        if not (request.llm and self.llm) or withdrawn:
            rules = generate(request.context)
            if request.cached_llm and not withdrawn and not any(c.source == ONBOARDING_SOURCE for c in rules):
                rules = merge_cached(request.context, rules, request.cached_llm)
            return GenerateResponse(candidates=rules)
        try:
            return GenerateResponse(candidates=await self.llm.generate(request.context, request.avoid), llm="ok")
        except LlmFailure as failure:  # the rules serve; the failure is counted by the generator
            return GenerateResponse(candidates=generate(request.context), llm=f"fallback:{failure.reason}")

    async def rank(self, request: RankRequest) -> RankResponse:
        steps = [c for c in request.candidates if c.source == ONBOARDING_SOURCE]
        if steps:  # a first-run step is shown, not chosen (ml/serving/onboarding.py)
            return RankResponse(chosen=steps[0].candidate_id, propensity=1.0, policy_version=ONBOARDING_POLICY_VERSION)
        state = self._state(request.policy_state)
        rng = np.random.default_rng(request.seed)
        selection = self.policy.select(state, request.context, request.candidates, rng)
        chosen = None if selection.chosen is None else request.candidates[selection.chosen].candidate_id
        return RankResponse(
            chosen=chosen,
            propensity=selection.propensity,
            policy_version=self.policy.version,
            effects=selection.effects,
        )

    async def feedback(self, request: FeedbackUpdate) -> PolicyStateResponse:
        state = self._state(request.policy_state)
        updated = self.policy.update(state, request.context, request.candidate, request.reward)
        return PolicyStateResponse(policy_state=updated)

    async def learned(self, request: LearnedRequest) -> LearnedResponse:
        return LearnedResponse(sentences=learned_sentences(self.policy, request))
