"""Deletion benchmark: one person with 250,000 events deletes their account while 99 others ask for tips.

A real `oo serve` on SQLite and on Postgres (a throwaway cluster on loopback), the population of
`bench.recommend` (1k users, 100 askers) plus the deleting person's events, bulk-loaded. The same open
loop of `POST /v1/recommend` at `--rate` runs twice against the same server: first with no deletion
(the baseline, measured in the same run), then from the moment `DELETE /v1/me` is sent until the
deletion's receipt says `completed`. Each request's latency is timed; the longest one while the
deletion runs says how long the deletion stopped anyone (target: ≤ 50 ms).

    uv run python -m bench.deletion [--backend sqlite|postgres|both] [--events 250000] [--rate 50]
    uv run python -m bench.deletion --backend sqlite --events 20000 --rate 20  # smoke: proves it runs
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.population import Backend, Postgres, Sqlite, add_leaving_person, populate, serve_oo
from bench.soak import percentile
from tests.postgres_cluster import PostgresCluster, free_port

STALL_MS = 50.0
BASELINE_SECONDS = 10.0


@dataclass(frozen=True)
class Window:
    """The open loop's requests over one window: their latencies (ms) and any not answered 200."""

    latencies: list[float]
    failed: int

    def line(self) -> str:
        values = self.latencies
        return (
            f"{len(values):5,} requests  p50 {percentile(values, 50):6.2f} ms  p99 {percentile(values, 99):6.2f} ms  "
            f"max {max(values):7.2f} ms  {self.failed} not 200"
        )


async def _open_loop(client: httpx.AsyncClient, tokens: list[str], rate: float, until: asyncio.Event) -> Window:
    latencies: list[float] = []
    failed = 0

    async def one(token: str) -> None:
        nonlocal failed
        started = time.perf_counter()
        try:
            response = await client.post("/v1/recommend", json={}, headers={"Authorization": f"Bearer {token}"})
        except httpx.TransportError:
            failed += 1
            return
        latencies.append((time.perf_counter() - started) * 1000)
        failed += response.status_code != 200

    tasks = []
    start = time.perf_counter()
    i = 0
    while not until.is_set():
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(tokens[i % len(tokens)])))
        i += 1
    await asyncio.gather(*tasks)
    return Window(latencies, failed)


async def _measure(base: str, deleting: str, others: list[str], rate: float) -> tuple[Window, Window, float]:
    async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=64), timeout=60) as client:
        quiet = asyncio.Event()
        asyncio.get_running_loop().call_later(BASELINE_SECONDS, quiet.set)
        baseline = await _open_loop(client, others, rate, quiet)

        done = asyncio.Event()
        loop = asyncio.create_task(_open_loop(client, others, rate, done))
        started = time.perf_counter()
        answer = await client.delete("/v1/me", headers={"Authorization": f"Bearer {deleting}"})
        assert answer.status_code == 202, answer.text
        receipt = answer.json()["receipt_id"]
        # The receipt is the only word the API gives of the deletion's end: polled, as a client would.
        while (await client.get(f"/v1/deletion-receipts/{receipt}")).json()["status"] != "completed":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        erased_in = time.perf_counter() - started
        done.set()
        return baseline, await loop, erased_in


def run_backend(backend: Backend, base_env: dict[str, str], events: int, rate: float) -> bool:
    label = f"[{backend.name}]"
    with tempfile.TemporaryDirectory() as data_dir, backend.case(Path(data_dir)) as store:
        env = {**base_env, "OO_DATA_DIR": data_dir, **store.env}
        tokens = populate(store, env, 1_000, 10)
        # The first asker is the one who leaves.
        leaving = asyncio.run(add_leaving_person(store, "usr_asker0000", events, exists=True))
        port = free_port()
        server = serve_oo(env, port)
        try:
            baseline, during, erased_in = asyncio.run(_measure(f"http://127.0.0.1:{port}", leaving, tokens[1:], rate))
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"{label} no deletion          {baseline.line()}")
    print(f"{label} while one is deleted {during.line()}")
    longest = max(during.latencies)
    met = longest <= STALL_MS and during.failed == 0
    print(
        f"{label} {events:,} events erased in {erased_in:.1f} s; p99 during / without: "
        f"{percentile(during.latencies, 99) / percentile(baseline.latencies, 99):.2f}; "
        f"target: no request stopped more than {STALL_MS:.0f} ms: longest {longest:.1f} ms "
        f"{'met' if met else 'NOT met'}"
    )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=250_000, help="the deleting person's events")
    parser.add_argument("--rate", type=float, default=50.0, help="the others' requests/s during both windows")
    args = parser.parse_args()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("OO_") and k != "DATABASE_URL"}
    base_env |= {"OO_LOG_LEVEL": "WARNING", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for name in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        if name == "sqlite":
            run_backend(Sqlite(), base_env, args.events, args.rate)
            continue
        cluster = PostgresCluster.start()
        try:
            run_backend(Postgres(cluster), base_env, args.events, args.rate)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
