"""Soak benchmark: a real `oo serve` under a realistic open-loop mix for minutes, on SQLite and on
Postgres, while `oo` commands run beside it on the same database and one account is deleted.

The people are the request benchmark's (`bench.population`: 1,000 users, 100 askers with 60 open
tasks and 3 habits each), and neither a tip nor a silence is held (`OO_TIP_HOLD_SECONDS=0`,
`OO_HOLD_SILENCE=false`), so every ask is a real decision. The traffic (`bench.soak_traffic`) is 60%
`POST /v1/recommend`, 20% `POST /v1/feedback` on tips the client was shown, 20% `POST /v1/events`
(check-ins, tasks added and completed). Alongside (`bench.soak_alongside`): two rounds of `oo`
commands, at a quarter and three quarters of the run, and at half-time `DELETE /v1/me` of a person
with 100,000 events, whose own answer is reported but kept out of the latency sample.

Reports per backend every status seen, p50/p99/max per route and overall, the server's resident
memory after the warm-up and at the end, and the targets — 0 5xx, p99 ≤ 25 ms, RSS growth ≤ 10% —
each met or NOT met (the last two only count for a full run: ≥ 100 req/s for ≥ 10 minutes). The
baseline is the bare FastAPI endpoint (`bench.bare_app`) at the same rate, measured in the same run.

    uv run python -m bench.soak [--backend sqlite|postgres|both] [--minutes 10] [--rate 100]
    uv run python -m bench.soak --backend sqlite --minutes 0.1 --rate 20  # smoke: proves it runs
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import statistics
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import soak_alongside as alongside
from bench.population import Backend, Postgres, Sqlite, populate, serve_oo
from bench.recommend import closed_loop, open_loop, serve_baseline, server_env
from bench.soak_traffic import MIX, ROUTES, Outcome, Person, Traffic
from bench.soak_traffic import open_loop as mixed_open_loop
from tests.postgres_cluster import PostgresCluster, free_port

USERS = 1_000
EVENTS_PER_ASKER = 10
WARMUP_SECONDS = 30.0  # at most; a tenth of a shorter run
BASELINE_SECONDS = 20.0  # at most; a shorter run's length
# A request waits this long before the client gives it up as lost: a queue shows as latency first.
CLIENT_TIMEOUT = 30.0
ADMIN_ROUNDS_AT = (0.25, 0.75)  # shares of the run
DELETION_AT = 0.5
# The targets, and what a run must be for the latency and memory ones to count.
P99_MS = 25.0
RSS_GROWTH = 0.10
FULL_RATE = 100.0
FULL_MINUTES = 10.0


@dataclass(frozen=True)
class Soaked:
    """One backend's run: the measured requests, the memory, and what ran alongside."""

    backend: str
    rate: float
    seconds: float
    warmup: list[Outcome]
    outcomes: list[Outcome]
    rss: list[float]  # MiB: after the warm-up, every tenth of the run, and at the end
    admin: list[list[alongside.Command]]
    deletion: alongside.Deletion
    events_left: int | None = None  # counted in the database once the server has stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--minutes", type=float, default=FULL_MINUTES, help="the measured run, after the warm-up")
    parser.add_argument("--rate", type=float, default=FULL_RATE, help="requests/s, all routes together")
    args = parser.parse_args()
    env = server_env()
    seconds = args.minutes * 60
    bare_p99 = measure_bare(env, args.rate, min(BASELINE_SECONDS, seconds))
    print(f"bare FastAPI at {args.rate:.0f} req/s for {min(BASELINE_SECONDS, seconds):.0f} s: p99 {bare_p99:.2f} ms")
    for name in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        if name == "sqlite":
            report(run_backend(Sqlite(), env, args.rate, seconds), bare_p99)
            continue
        cluster = PostgresCluster.start()  # only now, so it does not sit beside the SQLite run
        try:
            report(run_backend(Postgres(cluster), env, args.rate, seconds), bare_p99)
        finally:
            cluster.stop()


def measure_bare(env: dict[str, str], rate: float, seconds: float) -> float:
    port = free_port()
    process = serve_baseline("bench.bare_app", env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(closed_loop(base, ["x"], 1.0))  # warm-up
        latencies, _ = asyncio.run(open_loop(base, ["x"], rate, round(rate * seconds)))
    finally:
        process.terminate()
        process.wait(timeout=15)
    return percentile(latencies, 99)


def run_backend(backend: Backend, env: dict[str, str], rate: float, seconds: float) -> Soaked:
    print(f"\n== {backend.name}: {USERS:,} users, {rate:.0f} req/s for {seconds / 60:.1f} min", flush=True)
    with tempfile.TemporaryDirectory() as data_dir, backend.case(Path(data_dir)) as store:
        env = {**env, "OO_DATA_DIR": data_dir, **store.env}
        tokens = populate(store, env, USERS, EVENTS_PER_ASKER)
        doomed = asyncio.run(alongside.add_doomed_person(store))
        port = free_port()
        server = serve_oo(env, port)
        try:
            soaked = asyncio.run(
                soak(backend.name, f"http://127.0.0.1:{port}", server.pid, env, tokens, doomed, rate, seconds)
            )
        finally:
            server.terminate()
            server.wait(timeout=15)
        left = asyncio.run(alongside.events_left(store))
    return dataclasses.replace(soaked, events_left=left)


async def soak(
    backend: str, base: str, pid: int, env: dict[str, str], tokens: list[str], doomed: str, rate: float, seconds: float
) -> Soaked:
    traffic = Traffic([Person(token) for token in tokens])
    # The client's own full collection (it has just built the population) would stop its loop and
    # show up as the server's latency: out of the collector's sight with it.
    gc.collect()
    gc.freeze()
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=CLIENT_TIMEOUT) as client:
        warmup = await mixed_open_loop(client, traffic, rate, min(WARMUP_SECONDS, seconds / 10))
        rss = [alongside.rss_mib(pid)]
        sampler = asyncio.create_task(alongside.sample_rss(pid, seconds / 10, 9, rss))  # the end is the tenth
        rounds = [asyncio.create_task(alongside.admin_round(env, seconds * at)) for at in ADMIN_ROUNDS_AT]
        deletion = asyncio.create_task(alongside.delete_account(base, doomed, seconds * DELETION_AT))
        outcomes = await mixed_open_loop(client, traffic, rate, seconds)
        sampler.cancel()
        rss.append(alongside.rss_mib(pid))
        admin = list(await asyncio.gather(*rounds))
        deleted = await deletion
    return Soaked(backend, rate, seconds, warmup, outcomes, rss, admin, deleted)


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    # Inclusive: a short run's p99 stays within what was measured instead of extrapolating past the max.
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def report(run: Soaked, bare_p99: float) -> None:
    label = f"[{run.backend}]"
    sent = Counter(o.route for o in run.outcomes)
    total = len(run.outcomes)
    mix = ", ".join(f"{route} {sent[route]:,} ({sent[route] / total:.0%}; aimed {MIX[route]}%)" for route in ROUTES)
    print(f"{label} warm-up {len(run.warmup):,} requests: {_statuses(run.warmup)}")
    print(f"{label} sent {total:,}: {mix}")
    print(f"{label} status: {_statuses(run.outcomes)}")
    # A failure during the warm-up is as real as one after it: these two count both.
    server_errors = [o for o in (*run.warmup, *run.outcomes) if o.status.startswith("5")]
    lost = [o for o in (*run.warmup, *run.outcomes) if not o.status.isdigit()]
    print(f"{label} 5xx: {_called_out(server_errors)}; transport errors: {_called_out(lost)} (warm-up included)")
    print(f"{label} latency ms         count      p50      p99      max")
    for route in (*ROUTES, "overall"):
        ms = [o.ms for o in run.outcomes if o.status.isdigit() and route in (o.route, "overall")]
        print(
            f"{label}   {route:<12} {len(ms):>9,} {percentile(ms, 50):8.2f} {percentile(ms, 99):8.2f} "
            f"{max(ms, default=float('nan')):8.2f}"
        )
    start, end = run.rss[0], run.rss[-1]
    growth = end / start - 1
    print(f"{label} server RSS: {start:.1f} MiB after the warm-up, {end:.1f} MiB at the end, growth {growth:+.1%}")
    print(f"{label}   every tenth of the run (MiB): {' '.join(f'{mib:.0f}' for mib in run.rss)}")
    for at, commands in zip(ADMIN_ROUNDS_AT, run.admin, strict=True):
        done = " · ".join(f"{c.label}: exit {c.exit_code} in {c.seconds:.1f} s" for c in commands)
        print(f"{label} oo commands at {at:.0%} of the run: {done}")
        for failed in (c for c in commands if c.exit_code != 0):
            print(f"{label}   {failed.label} failed: {failed.output}")
    d = run.deletion
    completed = "never" if d.completed_after_ms is None else f"{d.completed_after_ms:,.0f} ms after the request"
    print(
        f"{label} DELETE /v1/me at {d.at_seconds:.0f} s, a person with {alongside.DOOMED_EVENTS:,} events: {d.status} "
        f"in {d.ms:,.0f} ms; receipt completed {completed}; {run.events_left} of their events left"
    )
    p99 = percentile([o.ms for o in run.outcomes if o.status.isdigit()], 99)
    print(f"{label} oO's p99 {p99:.2f} ms is {p99 / bare_p99:.1f}× the bare endpoint's {bare_p99:.2f} ms")
    full = run.rate >= FULL_RATE and run.seconds >= FULL_MINUTES * 60
    short = "" if full else f" (counts only at ≥ {FULL_RATE:.0f} req/s for ≥ {FULL_MINUTES:.0f} min)"
    targets = [
        ("0 5xx", not server_errors and not lost, f"{len(server_errors)} 5xx, {len(lost)} lost"),
        (f"p99 ≤ {P99_MS:.0f} ms", full and p99 <= P99_MS and not lost, f"{p99:.1f} ms{short}"),
        (f"RSS growth ≤ {RSS_GROWTH:.0%}", full and growth <= RSS_GROWTH, f"{growth:+.1%}{short}"),
    ]
    for target, met, measured in targets:
        print(f"{label} target {target}: {measured} {'met' if met else 'NOT met'}")


def _statuses(outcomes: list[Outcome]) -> str:
    counts = Counter(o.status for o in outcomes)
    return ", ".join(f"{status} ×{count:,}" for status, count in sorted(counts.items())) or "none"


def _called_out(outcomes: list[Outcome]) -> str:
    """None, or how many on which route with which status."""
    if not outcomes:
        return "none"
    counts = Counter(f"{o.route} {o.status}" for o in outcomes)
    return f"{len(outcomes):,} (" + ", ".join(f"{what} ×{n:,}" for what, n in sorted(counts.items())) + ")"


if __name__ == "__main__":
    main()
