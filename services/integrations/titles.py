"""Provider task titles in memory only, with a short life (ADR 0023), and the `TaskTitles` port on them.

A refresh puts every title it read; an answer quoting a task reads it here, or asks the provider for it
within a small budget. Nothing here is ever written to storage, a log or an event.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

MAX_TITLES = 200_000  # ~30 MB at most of short strings; the least recently refreshed people go first
PROVIDER_WORDS = {"todoist": "a task in Todoist"}


class TitleSource(Protocol):
    async def title(self, user_id: str, task_id: str) -> str | None:
        """The task's title at the provider now; None if the task or the connection is gone."""
        ...


class TitleCache:
    """Titles by person and task id, each until its expiry; bounded, the stalest people evicted first."""

    def __init__(
        self, ttl_seconds: float, *, max_titles: int = MAX_TITLES, clock: Callable[[], float] = time.monotonic
    ):
        self._ttl = ttl_seconds
        self._max = max_titles
        self._clock = clock
        self._people: OrderedDict[str, dict[str, tuple[str, float]]] = OrderedDict()
        self._count = 0

    def put(self, user_id: str, titles: Mapping[str, str], *, replace: bool = False) -> None:
        """Keep `titles`; with `replace`, they are all of the person's (a full refresh): others go."""
        expires = self._clock() + self._ttl
        held = self._people.pop(user_id, {})
        self._count -= len(held)
        if replace:
            held = {}
        held.update({task_id: (title, expires) for task_id, title in titles.items()})
        self._people[user_id] = held
        self._count += len(held)
        while self._count > self._max and len(self._people) > 1:
            _, evicted = self._people.popitem(last=False)
            self._count -= len(evicted)

    def get(self, user_id: str, task_id: str) -> str | None:
        entry = self._people.get(user_id, {}).get(task_id)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def drop(self, user_id: str, task_ids: Sequence[str]) -> None:
        held = self._people.get(user_id)
        for task_id in task_ids if held is not None else ():
            if held is not None and held.pop(task_id, None) is not None:
                self._count -= 1

    def forget(self, user_id: str, provider: str | None = None) -> None:
        """Drop the person's titles: all, or one provider's (`<provider>:` ids)."""
        held = self._people.pop(user_id, None)
        if held is None:
            return
        self._count -= len(held)
        if provider is not None:
            kept = {key: value for key, value in held.items() if not key.startswith(f"{provider}:")}
            if kept:
                self._people[user_id] = kept
                self._count += len(kept)

    def __len__(self) -> int:
        return self._count


class ProviderTitles:
    """`TaskTitles` for the recommender: the cache first, then the task's provider within `budget`."""

    def __init__(self, cache: TitleCache, sources: Mapping[str, TitleSource], budget_seconds: float) -> None:
        self._cache = cache
        self._sources = sources
        self._budget = budget_seconds

    async def titles(self, user_id: str, task_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for task_id in dict.fromkeys(task_ids):
            provider = task_id.split(":", 1)[0]
            title = self._cache.get(user_id, task_id) or await self._ask(provider, user_id, task_id)
            found[task_id] = title or PROVIDER_WORDS.get(provider, "a task")
        return found

    async def _ask(self, provider: str, user_id: str, task_id: str) -> str | None:
        source = self._sources.get(provider)
        if source is None:
            return None
        try:
            title = await asyncio.wait_for(source.title(user_id, task_id), self._budget)
        except Exception as error:
            # The answer goes out with the provider's words instead; the type alone is logged, never a text.
            log.warning("task_title_unavailable", provider=provider, error=type(error).__name__)
            return None
        if title is not None:
            self._cache.put(user_id, {task_id: title})
        return title
