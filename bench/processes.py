"""One api process or two, on Postgres: does a second `oo serve` beside the first scale the service?

The production topology runs api processes side by side on one Postgres (`oo topology`). This measures,
on `bench.recommend`'s people (1k users, 100 askers with 60 open tasks; every ask a real decision),
`POST /v1/recommend` (closed-loop throughput; p50/p99 at a fixed 100 requests/s) and ingest
(`POST /v1/events`, 100 fresh check-ins a request: events/s) with one api process and with two, the
client spreading its connections over both. Its baseline, in the same run and the same way, is the
*floor* (`bench.floor_app`: FastAPI and oO's kernel doing a decision's unavoidable I/O on the same
Postgres) with one process and with two: the floor's own scaling is what this machine allows.

Targets: two processes ≥ 1.6× one on this 2-core machine (for asks and for ingest), p99 ≤ 20 ms at
100 req/s with two; each printed met or NOT met, with the floor's scaling beside it.

    uv run python -m bench.processes [--seconds 5] [--latency-requests 2000]
    uv run python -m bench.processes --seconds 0.5 --latency-requests 50 --users 200  # smoke: proves it runs
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.floor_app import USERS as FLOOR_USERS
from bench.population import OO, Postgres, populate, wait_ready
from bench.recommend import pct, server_env
from tests.postgres_cluster import PostgresCluster, free_port

SCALING = 1.6
P99_MS = 20.0
RATE = 100.0
BATCH = 100  # events in one ingest request


@dataclass(frozen=True)
class Run:
    """One setup measured: asks per second, ingested events per second, and the open loop's p50/p99."""

    asks: float
    events: float
    p50: float
    p99: float
    lost: int


Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def _closed(bases: list[str], seconds: float, request: Request, connections: int = 8) -> int:
    """Requests done in `seconds` by `connections` workers, spread evenly over `bases`."""
    done = 0
    deadline = time.perf_counter() + seconds
    clients = [httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=connections)) for base in bases]
    try:

        async def worker(k: int) -> None:
            nonlocal done
            client = clients[k % len(clients)]
            for i in itertools.count(k, connections):
                if time.perf_counter() >= deadline:
                    return
                response = await request(client, i)
                if response.status_code != 200:
                    raise RuntimeError(response.text[:300])
                done += 1

        await asyncio.gather(*(worker(k) for k in range(connections)))
    finally:
        for client in clients:
            await client.aclose()
    return done


async def _open(bases: list[str], tokens: list[str], requests: int) -> tuple[list[float], int]:
    """Asks at a fixed RATE, alternating over `bases`: each answered one's latency, and how many were lost."""
    latencies: list[float] = []
    lost = 0
    clients = [httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=64)) for base in bases]
    try:

        async def one(i: int) -> None:
            nonlocal lost
            started = time.perf_counter()
            try:
                response = await _ask(clients[i % len(clients)], tokens, i)
            except httpx.TransportError:
                lost += 1
                return
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(response.text[:300])

        tasks = []
        start = time.perf_counter()
        for i in range(requests):
            delay = start + i / RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()
    return latencies, lost


async def _ask(client: httpx.AsyncClient, tokens: list[str], i: int) -> httpx.Response:
    return await client.post("/v1/recommend", json={}, headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"})


def _checkins(count: int) -> list[dict]:
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return [
        {"id": str(uuid.uuid4()), "type": "profile.checkin_recorded.v2", "occurred_at": at, "payload": {"energy": 3}}
        for _ in range(count)
    ]


def measure(bases: list[str], tokens: list[str], seconds: float, latency_requests: int, *, ingest: bool) -> Run:
    gc.collect()
    gc.freeze()  # the client's own collections would show up as the server's latency

    async def ask(client: httpx.AsyncClient, i: int) -> httpx.Response:
        return await _ask(client, tokens, i)

    async def post(client: httpx.AsyncClient, i: int) -> httpx.Response:
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
        return await client.post("/v1/events", json={"events": _checkins(BATCH)}, headers=headers)

    asyncio.run(_closed(bases, 1.0, ask))  # warm-up
    asks = asyncio.run(_closed(bases, seconds, ask)) / seconds
    events = asyncio.run(_closed(bases, seconds, post)) * BATCH / seconds if ingest else 0.0
    latencies, lost = asyncio.run(_open(bases, tokens, latency_requests))
    return Run(asks, events, pct(latencies, 50), pct(latencies, 99), lost)


@contextmanager
def serving(command: list[str], env: dict[str, str], count: int, ready: str) -> Iterator[list[str]]:
    """`count` processes of `command` (given `--port`), each on its own port, ready; their base URLs."""
    ports = [free_port() for _ in range(count)]
    processes = []
    try:
        for port in ports:
            process = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=None)
            processes.append(process)
            wait_ready(f"http://127.0.0.1:{port}{ready}", process)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="closed-loop seconds per measure")
    parser.add_argument("--latency-requests", type=int, default=2_000)
    parser.add_argument("--users", type=int, default=1_000, help="people in the database (100 of them ask)")
    args = parser.parse_args()
    base_env = server_env()
    print(
        f"one api process or two, on Postgres: {args.seconds:g} s closed loops, {args.latency_requests} asks at 100/s"
    )
    cluster = PostgresCluster.start()
    try:
        backend = Postgres(cluster)
        floor: dict[int, Run] = {}
        with tempfile.TemporaryDirectory() as data_dir, backend.floor(Path(data_dir)) as floor_env:
            floor_tokens = [f"floor_{i}" for i in range(FLOOR_USERS)]
            command = [sys.executable, "-m", "uvicorn", "bench.floor_app:app", "--log-level", "warning"]
            command += ["--no-access-log"]
            for count in (1, 2):
                with serving(command, base_env | floor_env, count, "/docs") as bases:
                    floor[count] = measure(bases, floor_tokens, args.seconds, args.latency_requests, ingest=False)
                print(f"floor  × {count}: {floor[count].asks:7,.0f} asks/s | {latency(floor[count])}")
        oo: dict[int, Run] = {}
        with tempfile.TemporaryDirectory() as data_dir, backend.case(Path(data_dir)) as store:
            env = {**base_env, "OO_DATA_DIR": data_dir, **store.env, "OO_EMBEDDED_JOBS": "false"}
            tokens = populate(store, env, args.users, 10)
            for count in (1, 2):
                with serving([*OO, "serve", "--no-jobs"], env, count, "/ready") as bases:
                    oo[count] = measure(bases, tokens, args.seconds, args.latency_requests, ingest=True)
                run = oo[count]
                print(
                    f"oO     × {count}: {run.asks:7,.0f} asks/s ({run.asks / floor[count].asks:.2f} of the floor) "
                    f"| {run.events:8,.0f} events/s | {latency(run)}, {run.lost} lost"
                )
    finally:
        cluster.stop()
    report(floor, oo)


def latency(run: Run) -> str:
    return f"p50 {run.p50:5.2f} ms  p99 {run.p99:5.2f} ms"


def report(floor: dict[int, Run], oo: dict[int, Run]) -> None:
    ask_scale, event_scale, floor_scale = (
        oo[2].asks / oo[1].asks,
        oo[2].events / oo[1].events,
        floor[2].asks / floor[1].asks,
    )
    print(f"\ntwo processes over one: asks {ask_scale:.2f}×, ingest {event_scale:.2f}×; the floor {floor_scale:.2f}×")
    targets = [
        (f"asks: two processes ≥ {SCALING}× one", ask_scale >= SCALING, f"{ask_scale:.2f}× (floor {floor_scale:.2f}×)"),
        (f"ingest: two processes ≥ {SCALING}× one", event_scale >= SCALING, f"{event_scale:.2f}×"),
        (
            f"p99 ≤ {P99_MS:.0f} ms at {RATE:.0f} req/s with two processes",
            oo[2].p99 <= P99_MS and oo[2].lost == 0,
            f"{oo[2].p99:.1f} ms, {oo[2].lost} lost",
        ),
    ]
    for target, met, measured in targets:
        print(f"target {target}: {measured} {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
