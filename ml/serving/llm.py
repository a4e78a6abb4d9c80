"""LLM tips through the LiteLLM proxy, by alias only (`tip-generator` unless configured): no model name in code.

One attempt and one retry (for a timeout, an error or an answer that is not the schema); the
survivors of `llm_validation` become candidates with `source="llm"`. Whatever fails is counted by
reason, and the caller serves the rule candidates instead.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, cast

from pydantic import ValidationError

from ml.features.context import prompt_context
from ml.serving.llm_dedup import EMBEDDER, collapse
from ml.serving.llm_validation import LlmTips, problem_with, response_schema, to_candidate
from ml.serving.rules import generate as generate_rules
from oo_contracts.recommendation import TipCandidate, UserContext

if TYPE_CHECKING:
    # openai takes about half a second to import: only a process that asks the LLM pays it (below).
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.chat.completion_create_params import ResponseFormat
    from openai.types.shared_params.response_format_json_schema import JSONSchema

TIP_GENERATOR = "tip-generator"
# How the answer's shape is asked for: strict structured output where the server has it; plain JSON
# mode, with the schema in the prompt, where it does not (e.g. llama.cpp's server). Validated either way.
JsonMode = Literal["json_schema", "json_object"]
ATTEMPTS = 2
log = logging.getLogger(__name__)

SYSTEM = (
    "You write short, kind, concrete tips for one person, from the facts given and nothing else. "
    "Each tip is one sentence of at most 120 characters; its why is one line of the facts behind it. "
    "A todo names one of the person's tasks or habits by its id in ref_id; an advice has ref_id null. "
    "A title written as ⟦id⟧ stands for words you are not shown: quote it exactly as written, never guess them. "
    "Never blame or shame; never state a number the facts do not contain. Answer only the JSON schema."
)


class LlmFailure(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class LlmOutcomes:
    """Counts of what each generation ended in (`ok`, `timeout`, `error`, `invalid_json`, …)."""

    counts: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    dedup: Counter[str] = field(default_factory=Counter)  # which measure collapsed near-duplicates


class LlmTipGenerator:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "no-key",
        timeout: float = 10.0,
        json_mode: JsonMode = "json_schema",
        alias: str = TIP_GENERATOR,
        embedder: str = EMBEDDER,
    ) -> None:
        import openai

        self._client = openai.AsyncOpenAI(
            base_url=base_url.rstrip("/"), api_key=api_key, timeout=timeout, max_retries=0
        )
        self._json_mode = json_mode
        self._alias = alias
        self._embedder = embedder
        self.outcomes = LlmOutcomes()

    async def generate(self, ctx: UserContext, avoid: Sequence[str] = ()) -> list[TipCandidate]:
        """Validated LLM candidates, none close to the rules' tips or to `avoid` (tips the person
        dismissed); raises LlmFailure (and counts it) when none can be had."""
        reason = "error"
        for _ in range(ATTEMPTS):
            try:
                tips = await self._ask(ctx)
            except LlmFailure as failure:
                reason = failure.reason
                continue
            candidates = []
            for tip in tips.tips:
                problem = problem_with(tip, ctx)
                if problem:
                    self.outcomes.dropped[problem] += 1
                    log.info("llm_tip_dropped reason=%s", problem)
                else:
                    candidates.append(to_candidate(tip, ctx))
            existing = [*(c.text for c in generate_rules(ctx)), *avoid]
            candidates, measure = await collapse(self._client, candidates, existing, embedder=self._embedder)
            self.outcomes.dedup[measure] += 1
            if candidates:
                self.outcomes.counts["ok"] += 1
                return candidates
            reason = "nothing_valid"
        self.outcomes.counts[reason] += 1
        log.warning("llm_generation_failed reason=%s", reason)
        raise LlmFailure(reason)

    async def _ask(self, ctx: UserContext) -> LlmTips:
        import openai

        try:
            schema = response_schema()
            system = SYSTEM if self._json_mode == "json_schema" else f"{SYSTEM}\nJSON schema: {json.dumps(schema)}"
            messages: list[ChatCompletionMessageParam] = [
                {"role": "system", "content": system},
                {"role": "user", "content": json.dumps(prompt_context(ctx))},
            ]
            response_format: ResponseFormat = (
                {"type": "json_schema", "json_schema": cast("JSONSchema", schema)}
                if self._json_mode == "json_schema"
                else {"type": "json_object"}
            )
            answer = await self._client.chat.completions.create(
                model=self._alias, messages=messages, response_format=response_format, temperature=0.7
            )
        except openai.APITimeoutError as error:
            raise LlmFailure("timeout") from error
        except openai.OpenAIError as error:
            raise LlmFailure("error") from error
        content = answer.choices[0].message.content if answer.choices else None
        try:
            return LlmTips.model_validate_json(content or "")
        except ValidationError as error:
            raise LlmFailure("invalid_json") from error

    async def aclose(self) -> None:
        await self._client.close()
