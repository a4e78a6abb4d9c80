"""The soak benchmark's traffic: an open loop of the requests oO's clients make, in a fixed mix.

Of every ten requests six ask for a tip (`POST /v1/recommend`), two react to a tip the client was
shown (`POST /v1/feedback`) and two post a signal (`POST /v1/events`: a check-in, a task added or
a task completed, each with a fresh event id). A person's app reacts only to the tip on its screen,
so a reaction goes to a person whose latest answer showed a tip not yet reacted to; when nobody has
one, the slot asks for a tip instead, and the counts report what was sent.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import httpx

from bench.population import TASKS_PER_ASKER

Route = Literal["recommend", "feedback", "events"]
ROUTES: tuple[Route, ...] = ("recommend", "feedback", "events")
MIX: dict[Route, int] = {"recommend": 60, "feedback": 20, "events": 20}
REACTIONS = {"done": 4, "later": 4, "dismiss": 2}
SIGNALS = {"checkin": 2, "task_added": 1, "task_completed": 1}  # adds and completions keep the lists steady


@dataclass
class Person:
    """One asker as its app sees it: the tip on screen (if any) and the tasks it knows to be open."""

    token: str
    shown: uuid.UUID | None = None
    open_tasks: list[str] = field(default_factory=lambda: [f"t{i}" for i in range(TASKS_PER_ASKER)])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Outcome:
    """One request's answer: its status code, or the transport error's name when none came back."""

    route: Route
    status: str
    ms: float


@dataclass(frozen=True)
class Request:
    """One request of the mix, decided when its turn comes so that two reactions never share a tip."""

    route: Route
    person: Person
    body: dict[str, object]


@dataclass
class Traffic:
    """The mix's state across the warm-up and the measured run (which tips are on show, which tasks open)."""

    people: list[Person]
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    _task_serial: int = 0
    _asked: int = 0

    def next(self) -> Request:
        route = self.rng.choices(ROUTES, weights=[MIX[r] for r in ROUTES])[0]
        shown = [p for p in self.people if p.shown] if route == "feedback" else []
        if shown:
            person = self.rng.choice(shown)
            reaction = self.rng.choices(list(REACTIONS), weights=list(REACTIONS.values()))[0]
            body: dict[str, object] = {"decision_id": str(person.shown), "reaction": reaction}
            person.shown = None
            return Request("feedback", person, body)
        if route == "events":
            person = self.rng.choice(self.people)
            return Request("events", person, {"events": [self._signal(person, datetime.now(UTC))]})
        self._asked += 1
        return Request("recommend", self.people[self._asked % len(self.people)], {})

    async def send(self, client: httpx.AsyncClient, request: Request) -> Outcome:
        started = time.perf_counter()
        try:
            response = await client.post(f"/v1/{request.route}", json=request.body, headers=request.person.headers)
        except httpx.TransportError as error:
            return Outcome(request.route, type(error).__name__, (time.perf_counter() - started) * 1000)
        ms = (time.perf_counter() - started) * 1000
        if request.route == "recommend" and response.status_code == 200:
            body = response.json()
            request.person.shown = uuid.UUID(body["decision_id"]) if body["tip"] else None
        return Outcome(request.route, str(response.status_code), ms)

    def _signal(self, person: Person, now: datetime) -> dict[str, object]:
        kind = self.rng.choices(list(SIGNALS), weights=list(SIGNALS.values()))[0]
        if kind == "task_completed" and person.open_tasks:
            task_id = person.open_tasks.pop(self.rng.randrange(len(person.open_tasks)))
            return _event("integrations.task_completed.v1", now, {"task_id": task_id})
        if kind == "checkin":
            mood = {"energy": self.rng.randint(1, 5), "mood": self.rng.randint(1, 5)}
            return _event("profile.checkin_recorded.v1", now, mood)
        self._task_serial += 1
        task_id = f"soak{self._task_serial}"
        person.open_tasks.append(task_id)
        task = {
            "task_id": task_id,
            "title": f"Soak task {self._task_serial}",
            "estimated_minutes": self.rng.randint(5, 60),
            "priority": self.rng.randint(1, 4),
            "due": (now + timedelta(hours=self.rng.randint(-4, 72))).isoformat(),
        }
        return _event("integrations.task_added.v1", now, task)


def _event(kind: str, now: datetime, payload: Mapping[str, object]) -> dict[str, object]:
    return {"id": str(uuid.uuid4()), "type": kind, "occurred_at": now.isoformat(), "payload": payload}


async def open_loop(client: httpx.AsyncClient, traffic: Traffic, rate: float, seconds: float) -> list[Outcome]:
    """`rate` requests a second for `seconds`, each sent on its schedule whether or not earlier ones
    have been answered (a queue in the server shows up as latency, not as a slower client)."""
    outcomes: list[Outcome] = []

    async def one(request: Request) -> None:
        outcomes.append(await traffic.send(client, request))

    tasks = []
    start = time.perf_counter()
    for i in range(round(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(traffic.next())))
    await asyncio.gather(*tasks)
    return outcomes
