"""Todoist benchmark: does `/v1/recommend` keep its speed when the tips quote Todoist tasks whose titles
live only in memory (ADR 0023)?

One real `oo serve` with its Todoist app pointed at the simulator (`oo-sim todoist`, a process of its
own on loopback). Half the askers give oO their tasks themselves (`integrations.task_added.v1`, titles
stored); the other half connect Todoist through the OAuth flow and have the same tasks read from it
(no title stored: each answer quoting one is rendered from the in-memory cache). Both halves are
measured by the same client in the same run, on SQLite and on Postgres.

Each person first asks until the tip on show is about one of their tasks; held (the product's default:
a tip stays the answer until the person reacts), it is what every measured ask returns, its title
rendered each time — from the stored title, or from memory for a Todoist task. Reports, per backend
and half: closed-loop throughput, p50/p99 at a fixed rate (open loop), the share of answers that quote
a Todoist task by its title, and the calls oO made to Todoist while measured. Targets: the
Todoist half's throughput ≥ 0.9 of the own-tasks half, its p99 ≤ 20 ms at 100 rps, and no call to
Todoist in the common case (every title from memory).

    uv run python -m bench.todoist_titles [--backend sqlite|postgres|both] [--seconds 5]
    uv run python -m bench.todoist_titles --backend sqlite --seconds 1 --latency-requests 200  # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.population import Backend, Postgres, Sqlite, Store, serve_oo, signals, wait_ready
from bench.recommend import LATENCY_RATE, P99_MS, closed_loop, open_loop, pct, server_env
from services.auth.tokens import mint_token
from tests.postgres_cluster import PostgresCluster, free_port

ASKERS_PER_HALF = 50
CLIENT_ID, CLIENT_SECRET = "oo-bench", "oo-bench-secret"
SHARE_OF_OWN = 0.9
SCOPES = ["tips", "events:write", "integrations:write", "consents:write", "account:read"]


@dataclass(frozen=True)
class Half:
    name: str
    rps: float
    p50: float
    p99: float
    quoting: float  # share of the measured answers whose tip quotes a Todoist task


def serve_simulator(port: int, oo_port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "oo_simulators.cli", "todoist", "--port", str(port)]
    command += ["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]
    command += ["--redirect-uri", f"http://127.0.0.1:{oo_port}/v1/integrations/todoist/callback"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/_sim/health", process)
    return process


async def people(store: Store, per_half: int) -> tuple[list[str], list[str]]:
    """Two halves of askers, each with a token, made directly in the database."""
    stamp = store.moment(datetime.now(UTC))
    tokens = [(f"usr_todo{index:04d}", mint_token()) for index in range(2 * per_half)]
    await store.open()
    try:
        await store.insert(
            "auth_users",
            ("user_id", "kind", "status", "created_at"),
            [(user_id, "regular", "active", stamp) for user_id, _ in tokens],
        )
        columns = ("token_id", "user_id", "name", "secret_sha256", "scopes", "created_at", "revoked_at")
        rows = [
            (t.token_id, user_id, "bench", t.secret_sha256, json.dumps(SCOPES), stamp, None) for user_id, t in tokens
        ]
        await store.insert("auth_api_tokens", columns, rows)
        await store.commit()
    finally:
        await store.close()
    plain = [t.plaintext for _, t in tokens]
    return plain[:per_half], plain[per_half:]


async def give_own_tasks(oo: httpx.AsyncClient, tokens: list[str], now: datetime) -> None:
    for token in tokens:
        answer = await oo.post("/v1/events", json={"events": signals(now)}, headers=_bearer(token))
        answer.raise_for_status()


async def connect_todoist(oo: httpx.AsyncClient, sim: httpx.AsyncClient, tokens: list[str], now: datetime) -> None:
    """The same tasks, kept in Todoist; each person connects it as on the page."""
    own = signals(now)
    tasks = [e["payload"] for e in own if e["type"] == "integrations.task_added.v1"]
    rest = [e for e in own if e["type"] != "integrations.task_added.v1"]
    for index, token in enumerate(tokens):
        user = f"bench{index}"
        (await sim.post("/_sim/users", json={"user_id": user, "timezone": "Europe/Berlin"})).raise_for_status()
        for task in tasks:
            body = {
                "content": task["title"],
                "due_datetime": task["due"],
                "priority": task["priority"],
                "duration_minutes": task["estimated_minutes"],
            }
            (await sim.post(f"/_sim/users/{user}/tasks", json=body)).raise_for_status()
        (await oo.post("/v1/events", json={"events": rest}, headers=_bearer(token))).raise_for_status()
        await connect_one(oo, sim, token, user)
        refreshed = await oo.post("/v1/me/integrations/todoist/refresh", headers=_bearer(token))
        assert refreshed.json()["outcome"] == "refreshed", refreshed.text


async def connect_one(oo: httpx.AsyncClient, sim: httpx.AsyncClient, token: str, user: str) -> None:
    """The person grants the consent, is sent to Todoist, allows oO there, and comes back connected."""
    consent = {"consents": [{"purpose": "integration:todoist", "granted": True, "version": 1}]}
    (await oo.put("/v1/me/consents", json=consent, headers=_bearer(token))).raise_for_status()
    started = await oo.post("/v1/me/integrations/todoist/authorization", json={}, headers=_bearer(token))
    started.raise_for_status()
    (await sim.post("/_sim/authorize", json={"user": user, "decision": "allow"})).raise_for_status()
    at_todoist = await sim.get(started.json()["authorize_url"])
    back = await oo.get(at_todoist.headers["location"], headers=_bearer(token))  # the person who began it
    assert back.headers["location"].endswith("result=connected"), back.headers


async def hold_a_task_tip(oo: httpx.AsyncClient, tokens: list[str], prefix: str) -> None:
    """Each person asks until the tip on show is about one of their tasks (answering Later to others):
    that tip then stays the answer (as on the watch face), so every measured ask renders a task's title."""
    for token in tokens:
        for _ in range(80):
            body = (await oo.post("/v1/recommend", json={}, headers=_bearer(token))).json()
            if body["tip"] and body["tip"]["id"].startswith(prefix):
                break
            if body["tip"]:
                reaction = {"decision_id": body["decision_id"], "reaction": "later"}
                await oo.post("/v1/feedback", json=reaction, headers=_bearer(token))
        else:
            raise RuntimeError("no tip about a task came in 80 asks")


async def quoting_share(oo: httpx.AsyncClient, tokens: list[str], asks: int = 200) -> float:
    """The share of answers with a tip about a Todoist task, its title rendered."""
    quoting = 0
    for i in range(asks):
        tip = (await oo.post("/v1/recommend", json={}, headers=_bearer(tokens[i % len(tokens)]))).json()["tip"]
        quoting += bool(tip and tip["id"].startswith("task:todoist:") and tip["text"].count("Task "))

    return quoting / asks


def title_calls(sim_base: str) -> int:
    calls = httpx.get(f"{sim_base}/_sim/calls").json()
    return sum(1 for c in calls if c["method"] == "GET" and c["path"].startswith("/api/v1/tasks/"))


def measure(base: str, name: str, tokens: list[str], args: argparse.Namespace) -> Half:
    asyncio.run(closed_loop(base, tokens, 1.0))  # warm-up
    rps = asyncio.run(closed_loop(base, tokens, args.seconds))
    latencies, lost = asyncio.run(open_loop(base, tokens, args.rate, args.latency_requests))
    if lost:
        print(f"  {name}: {sum(lost.values())} requests lost: {dict(lost)}")

    async def share() -> float:
        async with httpx.AsyncClient(base_url=base) as oo:
            return await quoting_share(oo, tokens)

    return Half(name, rps, pct(latencies, 50), pct(latencies, 99), asyncio.run(share()))


def todoist_env(store: Store, folder: str, oo_port: int, sim_base: str) -> dict[str, str]:
    """`oo serve`'s environment: the benchmark's, the case's database, and its Todoist app at the simulator."""
    return (
        server_env()
        | store.env
        | {
            "OO_DATA_DIR": folder,
            "OO_TODOIST_CLIENT_ID": CLIENT_ID,
            "OO_TODOIST_CLIENT_SECRET": CLIENT_SECRET,
            "OO_TODOIST_REDIRECT_URI": f"http://127.0.0.1:{oo_port}/v1/integrations/todoist/callback",
            "OO_TODOIST_API_URL": sim_base,
            "OO_TODOIST_OAUTH_URL": f"{sim_base}/oauth",
        }
    )


def run_backend(backend: Backend, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="oo-bench-todoist-") as folder, backend.case(Path(folder)) as store:
        oo_port, sim_port = free_port(), free_port()
        sim_base = f"http://127.0.0.1:{sim_port}"
        # The tip on show stays the answer (the product's default hold): each ask renders its title.
        env = todoist_env(store, folder, oo_port, sim_base) | {"OO_TIP_HOLD_SECONDS": "86400"}
        simulator = serve_simulator(sim_port, oo_port)
        server = serve_oo(env, oo_port)
        try:
            base = f"http://127.0.0.1:{oo_port}"
            own, todoist = asyncio.run(people(store, args.askers))

            async def prepare() -> None:
                now = datetime.now(UTC) - timedelta(minutes=1)
                async with httpx.AsyncClient(base_url=base) as oo, httpx.AsyncClient(base_url=sim_base) as sim:
                    await give_own_tasks(oo, own, now)
                    await connect_todoist(oo, sim, todoist, now)
                    await hold_a_task_tip(oo, own, "task:t")
                    await hold_a_task_tip(oo, todoist, "task:todoist:")

            asyncio.run(prepare())
            before = title_calls(sim_base)
            halves = [measure(base, "own tasks", own, args), measure(base, "Todoist", todoist, args)]
            asked = title_calls(sim_base) - before
        finally:
            server.terminate()
            server.wait(timeout=15)
            simulator.terminate()
            simulator.wait(timeout=15)
    report(backend.name, halves, asked, args.rate)


def report(name: str, halves: list[Half], asked: int, rate: float) -> None:
    own, todoist = halves
    print(f"\n{name}:")
    for half in halves:
        print(
            f"  {half.name:9}  {half.rps:7.0f} req/s  at {rate:.0f} rps p50 {half.p50:6.2f} ms  p99 {half.p99:6.2f} ms"
            f"  ({half.quoting:.0%} of tips quote a Todoist task)"
        )
    ratio = todoist.rps / own.rps
    met = ratio >= SHARE_OF_OWN and todoist.p99 <= P99_MS and asked == 0
    print(
        f"  Todoist / own tasks: {ratio:.2f} (target ≥ {SHARE_OF_OWN}); Todoist p99 {todoist.p99:.2f} ms "
        f"(target ≤ {P99_MS:.0f}); calls to Todoist for a title while measured: {asked} (target 0) — "
        + ("met" if met else "NOT met")
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def on_each_backend(args: argparse.Namespace, run: Callable[[Backend, argparse.Namespace], None]) -> None:
    """`run` on SQLite, then on a throwaway Postgres cluster, as `--backend` says."""
    if args.backend in ("sqlite", "both"):
        run(Sqlite(), args)
    if args.backend in ("postgres", "both"):
        cluster = PostgresCluster.start()
        try:
            run(Postgres(cluster), args)
        finally:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="closed-loop seconds per half")
    parser.add_argument("--rate", type=float, default=LATENCY_RATE, help="open-loop requests per second")
    parser.add_argument("--latency-requests", type=int, default=2000, help="open-loop requests per half")
    parser.add_argument("--askers", type=int, default=ASKERS_PER_HALF, help="people in each half")
    on_each_backend(parser.parse_args(), run_backend)


if __name__ == "__main__":
    main()
