"""Offline evaluation of LLM tips: the `judge` alias scores generated tips against a rubric.

The sample is synthetic — seeded people built through oO's own feature code — so no person's data
leaves for the judge. Each person's context goes to `tip-generator` (through the same validation the
product uses); each surviving tip goes to `judge` with the context and the rubric, and comes back as
scores 1–5 for relevance, timing, actionability and tone. `oo ml eval` prints the report.
"""

from __future__ import annotations

import json
import random
import statistics
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.chat.completion_create_params import ResponseFormat
from openai.types.shared_params.response_format_json_schema import JSONSchema
from pydantic import BaseModel, Field, ValidationError

from ml.features.context import assemble_context, prompt_context
from ml.features.state import FeatureState
from ml.serving.llm import TIP_GENERATOR, JsonMode, LlmFailure, LlmTipGenerator
from ml.serving.llm_dedup import EMBEDDER
from oo_contracts.events import envelope
from oo_contracts.recommendation import TipCandidate, UserContext

JUDGE = "judge"
CRITERIA = ("relevance", "timing", "actionability", "tone")
RUBRIC = (
    "Score one tip for one person, 1 (bad) to 5 (excellent), on: relevance (fits this person's tasks, "
    "habits, energy), timing (fits the moment: hour, free minutes, busy or not), actionability (one "
    "concrete next step, doable now), tone (kind, never blaming). Answer only the JSON schema."
)
TASKS = ("Reply to Sam", "Renew passport", "Book the dentist", "Water the plants", "Send the invoice", "Call mum")
HABITS = ("a short walk", "read ten pages", "stretch")


class Scores(BaseModel):
    relevance: int = Field(ge=1, le=5)
    timing: int = Field(ge=1, le=5)
    actionability: int = Field(ge=1, le=5)
    tone: int = Field(ge=1, le=5)
    comment: str = Field(max_length=300)


@dataclass
class Report:
    people: int = 0
    generation_failures: dict[str, int] = field(default_factory=dict)
    tips: list[tuple[TipCandidate, Scores]] = field(default_factory=list)
    judge_failures: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def render(self, *, show: bool = False) -> str:
        lines = [f"oO LLM tip evaluation: {self.people} synthetic people, {len(self.tips)} tips judged"]
        if self.generation_failures:
            lines.append(f"  generation fell back to rules: {self.generation_failures}")
        if self.dropped:
            lines.append(f"  tips refused by validation: {self.dropped}")
        if self.judge_failures:
            lines.append(f"  judge answers unusable: {self.judge_failures}")
        for criterion in CRITERIA:
            values = [getattr(scores, criterion) for _, scores in self.tips]
            if values:
                lines.append(f"  {criterion:14} mean {statistics.fmean(values):.2f}  min {min(values)}")
        for tip, scores in sorted(self.tips, key=lambda pair: _total(pair[1]))[:3]:
            lines.append(f"  weakest: {tip.text!r} ({_total(scores)}/20) — {scores.comment}")
        if show:
            lines += [f"  [{_total(s):2}/20] {t.kind.value}: {t.text} — why: {t.why}" for t, s in self.tips]
        return "\n".join(lines)


def _total(scores: Scores) -> int:
    return sum(getattr(scores, c) for c in CRITERIA)


def synthetic_person(seed: int, now: datetime) -> UserContext:
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    state = FeatureState()

    def apply(event_type: str, payload: dict[str, object]) -> None:
        state.apply(
            envelope(
                event_id=uuid.UUID(int=rng.getrandbits(128)),
                event_type=event_type,
                user_id="eval",
                occurred_at=now - timedelta(minutes=5),
                source="eval",
                payload=payload,
            )
        )

    apply("profile.checkin_recorded.v1", {"energy": rng.randint(1, 5), "mood": rng.randint(1, 5)})
    for i, title in enumerate(rng.sample(TASKS, rng.randint(1, 4))):
        due = (now + timedelta(hours=rng.randint(-72, 72))).isoformat()
        apply(
            "integrations.task_added.v1",
            {"task_id": f"t{i}", "title": title, "estimated_minutes": rng.choice([5, 10, 20, 45]), "due": due},
        )
    name = rng.choice(HABITS)
    apply("profile.habit_defined.v1", {"habit_id": "h1", "name": name, "window_start_hour": 7, "window_end_hour": 21})
    return assemble_context("eval", state, now + timedelta(hours=rng.randint(0, 12)))


async def evaluate(
    base_url: str,
    api_key: str,
    *,
    people: int = 10,
    call_seconds: float = 30.0,
    json_mode: JsonMode = "json_schema",
    alias: str = TIP_GENERATOR,
    embedder: str = EMBEDDER,
) -> Report:
    generator = LlmTipGenerator(
        base_url, api_key=api_key, timeout=call_seconds, json_mode=json_mode, alias=alias, embedder=embedder
    )
    judge = openai.AsyncOpenAI(base_url=base_url.rstrip("/"), api_key=api_key, timeout=call_seconds, max_retries=1)
    report = Report(people=people)
    now = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    try:
        for seed in range(people):
            ctx = synthetic_person(seed, now)
            try:
                tips = await generator.generate(ctx)
            except LlmFailure as failure:
                report.generation_failures[failure.reason] = report.generation_failures.get(failure.reason, 0) + 1
                continue
            for tip in tips:
                scores = await _judge(judge, ctx, tip, json_mode)
                if scores is None:
                    report.judge_failures += 1
                else:
                    report.tips.append((tip, scores))
    finally:
        report.dropped = dict(generator.outcomes.dropped)
        await generator.aclose()
        await judge.close()
    return report


async def _judge(client: openai.AsyncOpenAI, ctx: UserContext, tip: TipCandidate, json_mode: JsonMode) -> Scores | None:
    schema = {"name": "scores", "strict": True, "schema": Scores.model_json_schema()}
    rubric = RUBRIC if json_mode == "json_schema" else f"{RUBRIC}\nJSON schema: {json.dumps(schema['schema'])}"
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": rubric},
        {
            "role": "user",
            "content": json.dumps({"person": prompt_context(ctx), "tip": {"text": tip.text, "why": tip.why}}),
        },
    ]
    response_format: ResponseFormat = (
        {"type": "json_schema", "json_schema": cast(JSONSchema, schema)}
        if json_mode == "json_schema"
        else {"type": "json_object"}
    )
    try:
        answer = await client.chat.completions.create(
            model=JUDGE, messages=messages, response_format=response_format, temperature=0
        )
        return Scores.model_validate_json(answer.choices[0].message.content or "")
    except (openai.OpenAIError, ValidationError, IndexError):
        return None
