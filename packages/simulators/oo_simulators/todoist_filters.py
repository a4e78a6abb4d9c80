"""A parser for a useful subset of Todoist's filter language, as `GET /api/v1/tasks/filter?query=` takes it.

Terms (case-insensitive): `today`, `tomorrow`, `yesterday`, `overdue`, `no date`, `no labels`,
`no priority`, `N days` / `next N days` (due from today to N-1 days later), `p1`..`p4` (p1 is the API's
priority 4), `#Project` / `##Project` (`*` wildcards), `@label` (`*` wildcards), `recurring`,
`YYYY-MM-DD`, `due before: YYYY-MM-DD`, `due after: YYYY-MM-DD`, `search: text`; combined with `!`, `&`,
`|` and parentheses, `&` binding tighter than `|`. Anything else is an error, as Todoist answers 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fnmatch import fnmatchcase


class FilterError(ValueError):
    """A query the simulator cannot parse."""


@dataclass(frozen=True)
class FilterSubject:
    """What a filter can see of one task, in the person's time zone."""

    content: str
    due_day: date | None
    due_at: datetime | None  # aware; None for an all-day date or no date
    priority: int
    project_name: str
    labels: tuple[str, ...]
    recurring: bool


@dataclass(frozen=True)
class FilterClock:
    today: date
    now: datetime  # aware


Predicate = Callable[[FilterSubject, FilterClock], bool]

_OPERATORS = "()&|!"
_DAYS = re.compile(r"^(?:next\s+)?(\d+)\s+days?$")
_PRIORITY = re.compile(r"^p([1-4])$")
_DUE_RELATIVE = re.compile(r"^due\s+(before|after):\s*(\d{4}-\d{2}-\d{2})$")


def parse_filter(query: str) -> Predicate:
    tokens = _tokens(query)
    if not tokens:
        raise FilterError("empty query")
    parser = _Parser(tokens)
    predicate = parser.disjunction()
    if parser.position != len(tokens):
        raise FilterError(f"unexpected {tokens[parser.position]!r}")
    return predicate


def _tokens(query: str) -> list[str]:
    tokens: list[str] = []
    term = ""
    for char in query:
        if char in _OPERATORS:
            if term.strip():
                tokens.append(term.strip())
            term = ""
            tokens.append(char)
        else:
            term += char
    if term.strip():
        tokens.append(term.strip())
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise FilterError("the query ends too early")
        self.position += 1
        return token

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self._peek() == "|":
            self._take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda t, c: any(p(t, c) for p in parts)

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self._peek() == "&":
            self._take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else lambda t, c: all(p(t, c) for p in parts)

    def unary(self) -> Predicate:
        symbol = self._take()
        if symbol == "!":
            inner = self.unary()
            return lambda t, c: not inner(t, c)
        if symbol == "(":
            inner = self.disjunction()
            if self._take() != ")":
                raise FilterError("a parenthesis is not closed")
            return inner
        if symbol in _OPERATORS:
            raise FilterError(f"unexpected {symbol!r}")
        return _term(symbol)


def _term(text: str) -> Predicate:
    term = " ".join(text.lower().split())
    fixed: dict[str, Predicate] = {
        "today": lambda t, c: t.due_day == c.today,
        "tomorrow": lambda t, c: t.due_day == c.today + timedelta(days=1),
        "yesterday": lambda t, c: t.due_day == c.today - timedelta(days=1),
        "overdue": _overdue,
        "no date": lambda t, c: t.due_day is None,
        "no labels": lambda t, c: not t.labels,
        "no priority": lambda t, c: t.priority == 1,
        "recurring": lambda t, c: t.recurring,
    }
    if term in fixed:
        return fixed[term]
    if match := _PRIORITY.match(term):
        priority = 5 - int(match[1])
        return lambda t, c: t.priority == priority
    if match := _DAYS.match(term):
        days = int(match[1])
        return lambda t, c: t.due_day is not None and c.today <= t.due_day < c.today + timedelta(days=days)
    if term.startswith("#"):
        pattern = term.lstrip("#").strip()
        return lambda t, c: fnmatchcase(t.project_name.lower(), pattern)
    if term.startswith("@"):
        pattern = term[1:].strip()
        return lambda t, c: any(fnmatchcase(label.lower(), pattern) for label in t.labels)
    if term.startswith("search:"):
        needle = term[len("search:") :].strip()
        return lambda t, c: needle in t.content.lower()
    if match := _DUE_RELATIVE.match(term):
        bound, before = date.fromisoformat(match[2]), match[1] == "before"
        return lambda t, c: t.due_day is not None and (t.due_day < bound if before else t.due_day > bound)
    try:
        day = date.fromisoformat(term)
    except ValueError:
        raise FilterError(f"unknown term {text!r}") from None
    return lambda t, c: t.due_day == day


def _overdue(task: FilterSubject, clock: FilterClock) -> bool:
    if task.due_day is None:
        return False
    if task.due_at is not None:
        return task.due_at < clock.now
    return task.due_day < clock.today
