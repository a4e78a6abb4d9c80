"""Todoist sync benchmark: reading a 2,000-task account through the official SDK, and oO's refresh of it.

Against the simulator (`oo-sim todoist`, its own process on loopback):
1. **The SDK against raw HTTP**: every page of `GET /api/v1/tasks/filter` (200 tasks a page) read by
   `TodoistAPIAsync` on oO's own transport, and by a bare `httpx` client making the same requests and
   parsing the same JSON, alternated, in the same run. Target: the SDK within 1.3× of raw.
2. **oO's refresh** through a real `oo serve` (`POST /v1/me/integrations/todoist/refresh`): the first
   (every task new, each published), one with nothing changed, and one after a single task changed,
   with the requests each made to Todoist; then the incremental one: a task changed in the Todoist app,
   whose webhook names it, read alone (its time from oO's `oo_todoist_refresh_seconds{kind="task"}`).
   Target: an incremental refresh ≥ 10× cheaper than a full one; printed met or not.

    uv run python -m bench.todoist_sync [--backend sqlite|postgres|both] [--tasks 2000] [--rounds 10]
    uv run python -m bench.todoist_sync --backend sqlite --tasks 200 --rounds 2  # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from todoist_api_python.api_async import TodoistAPIAsync

from bench.population import Backend, Store, serve_oo
from bench.todoist_titles import (
    CLIENT_ID,
    CLIENT_SECRET,
    connect_one,
    on_each_backend,
    people,
    serve_simulator,
    todoist_env,
)
from services.integrations.todoist.http import Transports
from tests.postgres_cluster import free_port

FILTER = "overdue | today | 14 days | no date"
PAGE = 200
SDK_TARGET = 1.3
INCREMENTAL_TARGET = 10.0


async def first_read_done(oo: httpx.AsyncClient, token: str) -> None:
    for _ in range(6000):
        listed = (await oo.get("/v1/me/integrations", headers={"Authorization": f"Bearer {token}"})).json()
        if any(i["provider"] == "todoist" and i["last_synced_at"] for i in listed["integrations"]):
            return
        await asyncio.sleep(0.01)
    raise RuntimeError("the connection's first read never ended")


async def seed(sim: httpx.AsyncClient, user: str, count: int) -> None:
    """`count` open tasks in the filter's window: due over the next 13 days, or undated."""
    (await sim.post("/_sim/rate_limit", json={"requests": 10**9, "window_seconds": 900})).raise_for_status()
    now = datetime.now(UTC)
    for i in range(count):
        body: dict[str, object] = {"content": f"Task {i}", "priority": 1 + i % 4, "duration_minutes": 5 + i % 55}
        if i % 5:
            body["due_date"] = (now + timedelta(days=i % 13)).date().isoformat()
        (await sim.post(f"/_sim/users/{user}/tasks", json=body)).raise_for_status()


async def token_for(sim: httpx.AsyncClient, user: str) -> str:
    (await sim.post("/_sim/authorize", json={"user": user, "decision": "allow"})).raise_for_status()
    authorize = await sim.get("/oauth/authorize", params={"client_id": CLIENT_ID, "scope": "data:read", "state": "s"})
    code = httpx.URL(authorize.headers["location"]).params["code"]
    answer = await sim.post(
        "/oauth/access_token", data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code}
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


async def read_with_sdk(token: str, transports: Transports) -> int:
    async with TodoistAPIAsync(token, client=httpx.AsyncClient(transport=transports.sdk())) as api:
        return sum([len(page) async for page in await api.filter_tasks(query=FILTER, limit=PAGE)])


async def read_raw(token: str, base: str) -> int:
    read = 0
    cursor: str | None = None
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        while True:
            params: dict[str, str | int] = {"query": FILTER, "limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            answer = await client.get("/api/v1/tasks/filter", params=params)
            answer.raise_for_status()
            body = answer.json()
            read += len(body["results"])
            cursor = body.get("next_cursor")
            if not cursor:
                return read


async def sdk_against_raw(sim_base: str, token: str, tasks: int, rounds: int) -> tuple[float, float]:
    transports = Transports(sim_base, f"{sim_base}/oauth", 30.0)
    sdk: list[float] = []
    raw: list[float] = []
    for _ in range(rounds + 1):  # the first round warms both up and is not counted
        for name, read in (
            ("sdk", lambda: read_with_sdk(token, transports)),
            ("raw", lambda: read_raw(token, sim_base)),
        ):
            started = time.perf_counter()
            assert await read() == tasks
            (sdk if name == "sdk" else raw).append(time.perf_counter() - started)
    return statistics.median(sdk[1:]), statistics.median(raw[1:])


def todoist_calls(sim_base: str) -> int:
    return len([c for c in httpx.get(f"{sim_base}/_sim/calls").json() if c["path"].startswith("/api/v1/")])


async def refreshes(base: str, sim_base: str, token: str, user: str, rounds: int) -> dict[str, tuple[float, int]]:
    """Seconds and Todoist requests of each kind of refresh, as the person asks for it (medians)."""
    results: dict[str, list[tuple[float, int]]] = {
        "full": [],  # the first, every task new
        "nothing changed": [],
        "one task changed": [],
        "webhook hint": [],
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as oo,
        httpx.AsyncClient(base_url=sim_base) as sim,
    ):

        async def timed(kind: str) -> None:
            before = todoist_calls(sim_base)
            started = time.perf_counter()
            answer = await oo.post("/v1/me/integrations/todoist/refresh")
            assert answer.json()["outcome"] == "refreshed", answer.text
            results[kind].append((time.perf_counter() - started, todoist_calls(sim_base) - before))

        async def hinted(i: int) -> None:
            """A task changed in the Todoist app: the simulator's webhook names it, oO reads that task alone
            in the background; its time is what oO's own metric measured of that refresh."""
            count, total = await task_refreshes(oo)
            before = todoist_calls(sim_base)
            await sim.post(f"/_sim/users/{user}/tasks", json={"content": f"Hinted {i}", "due_string": "today"})
            for _ in range(6000):  # a minute at most: a hint never acted on fails the run below
                now = await task_refreshes(oo)
                if now[0] > count:
                    break
                await asyncio.sleep(0.01)
            else:
                raise RuntimeError("oO never read the task a webhook named")
            results["webhook hint"].append((now[1] - total, todoist_calls(sim_base) - before))

        await timed("full")
        for i in range(rounds):
            await timed("nothing changed")
            await sim.post(f"/_sim/users/{user}/tasks", json={"content": f"New {i}", "due_string": "today"})
            await timed("one task changed")
        webhook = f"{base}/v1/integrations/todoist/webhook"
        (await sim.post("/_sim/webhook", json={"url": webhook})).raise_for_status()
        for i in range(rounds):
            await hinted(i)
    return {
        kind: (statistics.median(s for s, _ in runs), round(statistics.median(n for _, n in runs)))
        for kind, runs in results.items()
    }


async def task_refreshes(oo: httpx.AsyncClient) -> tuple[float, float]:
    """How many one-task refreshes oO completed, and their total seconds, from its `/metrics`."""
    text = (await oo.get("/metrics")).text
    found = dict.fromkeys(("count", "sum"), 0.0)
    for line in text.splitlines():
        for field in found:
            if line.startswith(f'oo_todoist_refresh_seconds_{field}{{kind="task"}}'):
                found[field] = float(line.rsplit(" ", 1)[1])
    return found["count"], found["sum"]


def run_backend(backend: Backend, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="oo-bench-sync-") as folder, backend.case(Path(folder)) as store:
        oo_port, sim_port = free_port(), free_port()
        sim_base = f"http://127.0.0.1:{sim_port}"
        env = todoist_env(store, folder, oo_port, sim_base) | {
            "OO_TODOIST_MAX_TASKS": str(args.tasks + args.rounds + 10)
        }
        simulator = serve_simulator(sim_port, oo_port)
        server = serve_oo(env, oo_port)
        try:
            report = asyncio.run(measure(store, f"http://127.0.0.1:{oo_port}", sim_base, args))
        finally:
            server.terminate()
            server.wait(timeout=15)
            simulator.terminate()
            simulator.wait(timeout=15)
    print_report(backend.name, args.tasks, *report)


async def measure(store: Store, base: str, sim_base: str, args: argparse.Namespace):
    _, [token] = await people(store, 1)
    async with httpx.AsyncClient(base_url=base) as oo, httpx.AsyncClient(base_url=sim_base) as sim:
        # Connected while the account is empty (the connection's first read finds nothing), then filled:
        # the first refresh measured publishes every task.
        (await sim.post("/_sim/users", json={"user_id": "bench0", "timezone": "UTC"})).raise_for_status()
        await connect_one(oo, sim, token, "bench0")
        await first_read_done(oo, token)
        await seed(sim, "bench0", args.tasks)
        sim_token = await token_for(sim, "bench0")
    sdk, raw = await sdk_against_raw(sim_base, sim_token, args.tasks, args.rounds)
    kinds = await refreshes(base, sim_base, token, "bench0", args.rounds)
    return sdk, raw, kinds


def print_report(name: str, tasks: int, sdk: float, raw: float, kinds: dict[str, tuple[float, int]]) -> None:
    print(f"\n{name}: a {tasks:,}-task account, {-(-tasks // PAGE)} pages of {PAGE}")
    ratio = sdk / raw
    verdict = "met" if ratio <= SDK_TARGET else "NOT met"
    print(
        f"  read every page: SDK {sdk * 1000:7.1f} ms, raw httpx {raw * 1000:7.1f} ms: {ratio:.2f}× "
        f"(target ≤ {SDK_TARGET}) — {verdict}"
    )
    for kind, (seconds, calls) in kinds.items():
        print(f"  oO refresh, {kind:16} {seconds * 1000:8.1f} ms  {calls:3d} requests to Todoist")
    full = kinds["full"][0]
    for kind in ("nothing changed", "one task changed", "webhook hint"):
        cheaper = full / kinds[kind][0]
        verdict = "met" if cheaper >= INCREMENTAL_TARGET else "NOT met"
        print(f"  full / {kind}: {cheaper:.1f}× (target ≥ {INCREMENTAL_TARGET:.0f}) — {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    on_each_backend(parser.parse_args(), run_backend)


if __name__ == "__main__":
    main()
