"""Near-duplicates collapse: by the `embedder` alias when the proxy has one, by word overlap when not.

Run where time is free (the background generation), never on a person's request. A candidate is
dropped when it is too close to a text already there — the rules' candidates of the moment and the
tips the person recently dismissed — or to a candidate kept before it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import numpy as np

from ml.serving.llm_merge import lexically_distinct
from oo_contracts.recommendation import TipCandidate, text_fingerprint

if TYPE_CHECKING:
    import openai  # imported where it is called: only a process that asks the LLM pays its import

EMBEDDER = "embedder"
NEAR_DUPLICATE_COSINE = 0.9
log = logging.getLogger(__name__)


async def collapse(
    client: openai.AsyncOpenAI, fresh: list[TipCandidate], existing: list[str], *, embedder: str = EMBEDDER
) -> tuple[list[TipCandidate], str]:
    """The fresh candidates not too close to an existing text (the rules' tips, the tips the person
    dismissed) or to each other, and which measure decided (`embedder` or `lexical`)."""
    import openai

    texts = [*existing, *(c.text for c in fresh)]
    try:
        # One request per text ties each vector to its text, whatever a provider does with batches.
        answers = await asyncio.gather(*(client.embeddings.create(model=embedder, input=text) for text in texts))
        vectors = np.array([answer.data[0].embedding for answer in answers], dtype=float)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    except (openai.OpenAIError, ValueError, IndexError) as error:
        log.info("embedder unavailable, using word overlap: %s", type(error).__name__)
        return lexically_distinct(fresh, [frozenset(text_fingerprint(t)) for t in existing]), "lexical"
    kept_rows = list(range(len(existing)))
    kept = []
    for offset, candidate in enumerate(fresh):
        row = len(existing) + offset
        if kept_rows and float(np.max(vectors[kept_rows] @ vectors[row])) >= NEAR_DUPLICATE_COSINE:
            continue
        kept_rows.append(row)
        kept.append(candidate)
    return kept, "embedder"
