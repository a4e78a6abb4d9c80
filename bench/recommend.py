"""Request benchmark: POST /v1/recommend on the embedded default (real `oo serve`, SQLite) against a
bare FastAPI endpoint served by the same uvicorn, measured by the same client in the same run.

A second baseline, `bench.floor_app`, does the least any decision does on oO's stack (FastAPI, the
kernel's SQLite engine, one transaction: token, state, log row, commit), so the report separates what
the stack costs from what oO's own work costs.

Reports the throughput ratio (closed loop), p50/p99 at a fixed 100 requests/s (open loop), and how
latency moves from 1k to 100k users and from 10 to 100k events for the asking users.
Targets: the core loop's (ratio ≥ 0.5; p99 ≤ 20 ms at 100 rps; latency flat across sizes) and ADR 0014's
≥ 0.25 of the floor, which stands for the ratio; each run says which it meets.

    uv run python -m bench.recommend [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.floor_app import USERS as FLOOR_USERS
from services.auth.tokens import mint_token
from tests.litellm_proxy import start as start_proxy
from tests.postgres_cluster import free_port

OO = [sys.executable, "-m", "services"]
# 100 people with full task lists (a Todoist user has dozens open): spread over them, a run's asks
# leave candidates outside their cooldowns, so each ask is a real decision, not "nothing left".
ASKERS = 100
TASKS_PER_ASKER = 60
LATENCY_SECONDS = 20.0
# The targets: the core loop's, and ADR 0014's, which says why the loop's first ratio is out of reach and what
# stands for it.
ISSUE_RATIO = 0.5
P99_MS = 20.0
SHARE_OF_FLOOR = 0.25
FLAT = 0.8  # the slowest size's throughput at least this share of the fastest's


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
        if process.poll() is not None:
            break
    raise RuntimeError(f"{url} never became ready")


def serve_oo(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [*OO, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_ready(f"http://127.0.0.1:{port}/ready", process)
    return process


def serve_baseline(module: str, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """A baseline app (`bench.bare_app`, `bench.floor_app`) served by the same uvicorn as oO."""
    command = [sys.executable, "-m", "uvicorn", f"{module}:app", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--log-level", "warning", "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_ready(f"http://127.0.0.1:{port}/docs", process)
    return process


def run_baseline(module: str, env: dict[str, str], tokens: list[str], seconds: float) -> tuple[float, float, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        process = serve_baseline(module, {**env, "FLOOR_DATA_DIR": data_dir}, port)
        try:
            return measure(f"http://127.0.0.1:{port}", tokens, seconds)
        finally:
            process.terminate()
            process.wait(timeout=15)


def signals(now: datetime) -> list[dict]:
    def event(kind: str, payload: dict) -> dict:
        return {
            "id": str(uuid.uuid4()),
            "type": kind,
            "occurred_at": (now - timedelta(minutes=2)).isoformat(),
            "payload": payload,
        }

    return [
        event("recommender.context_observed.v1", {"timezone": "Europe/Berlin", "device_class": "phone"}),
        event("profile.checkin_recorded.v1", {"energy": 3, "mood": 3}),
        *[
            event(
                "profile.habit_defined.v1",
                {"habit_id": habit_id, "name": name, "window_start_hour": 0, "window_end_hour": 24},
            )
            for habit_id, name in (("walk", "a walk"), ("stretch", "stretching"), ("read", "reading"))
        ],
        *[
            event(
                "integrations.task_added.v1",
                {
                    "task_id": f"t{i}",
                    "title": f"Task {i}",
                    "estimated_minutes": 5 + i % 40,
                    "priority": 1 + i % 4,
                    "due": (now + timedelta(hours=i * 2 - 20)).isoformat(),
                },
            )
            for i in range(TASKS_PER_ASKER)
        ],
    ]


def populate(data_dir: Path, env: dict[str, str], users: int, events_per_asker: int) -> list[str]:
    """Askers get real signals through the API; the rest of the population is cloned in bulk."""
    port = free_port()
    server = serve_oo(env, port)
    tokens = []
    try:
        database = sqlite3.connect(data_dir / "oo.sqlite3")
        now = datetime.now(UTC)
        for index in range(ASKERS):
            user_id = f"usr_asker{index:04d}"
            token = mint_token()
            database.execute(
                "INSERT INTO auth_users VALUES (?, 'regular', 'active', ?)",
                (user_id, now.strftime("%Y-%m-%d %H:%M:%S.%f")),
            )
            database.execute(
                "INSERT INTO auth_api_tokens VALUES (?, ?, 'bench', ?, ?, ?, NULL)",
                (
                    token.token_id,
                    user_id,
                    token.secret_sha256,
                    json.dumps(["tips", "events:write"]),
                    now.strftime("%Y-%m-%d %H:%M:%S.%f"),
                ),
            )
            tokens.append(token.plaintext)
        database.commit()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for plaintext in tokens:
                headers = {"Authorization": f"Bearer {plaintext}"}
                assert client.post("/v1/events", json={"events": signals(now)}, headers=headers).status_code == 200
                for _ in range(3):
                    response = client.post("/v1/recommend", json={}, headers=headers)
                    body = response.json()
                    if body["tip"]:
                        client.post(
                            "/v1/feedback",
                            json={"decision_id": body["decision_id"], "reaction": "later"},
                            headers=headers,
                        )
        _bulk_population(database, users - ASKERS, now)
        _bulk_events(database, events_per_asker, now)
        database.commit()
        database.close()
    finally:
        server.terminate()
        server.wait(timeout=15)
    # 100k people's states are ~5 GB: written back to disk while the server is measured, they made its
    # writes and checkpoints wait on the disk (p99 33–315 ms at 100k users only). Setup, not workload.
    os.sync()
    return tokens


def _bulk_population(database: sqlite3.Connection, count: int, now: datetime) -> None:
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    feature, policy = database.execute(
        "SELECT f.state, p.state FROM recommender_feature_state f JOIN recommender_policy_state p USING (user_id) "
        "LIMIT 1"
    ).fetchone()
    for start in range(0, count, 10_000):
        ids = [f"usr_pop{i:07d}" for i in range(start, min(start + 10_000, count))]
        database.executemany("INSERT INTO auth_users VALUES (?, 'regular', 'active', ?)", [(u, stamp) for u in ids])
        database.executemany(
            "INSERT INTO recommender_feature_state VALUES (?, ?, ?)", [(u, feature, stamp) for u in ids]
        )
        database.executemany(
            "INSERT INTO recommender_policy_state VALUES (?, 'lin-ts-v1', 5, ?, ?)", [(u, policy, stamp) for u in ids]
        )


def _bulk_events(database: sqlite3.Connection, per_asker: int, now: datetime) -> None:
    payload = json.dumps({"energy": 3, "mood": 3})
    for index in range(ASKERS):
        rows = [
            (
                uuid.uuid4().hex,
                "profile.checkin_recorded.v1",
                f"usr_asker{index:04d}",
                (now - timedelta(minutes=per_asker - i)).strftime("%Y-%m-%d %H:%M:%S.%f"),
                now.strftime("%Y-%m-%d %H:%M:%S.%f"),
                "bench",
                1,
                payload,
            )
            for i in range(per_asker)
        ]
        database.executemany(
            "INSERT INTO events_store (event_id, type, user_id, occurred_at, recorded_at, source, schema_version, "
            "payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


async def closed_loop(base: str, tokens: list[str], seconds: float, connections: int = 8) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=connections)) as client:

        async def worker(offset: int) -> None:
            nonlocal done
            i = offset
            while time.perf_counter() < deadline:
                token = tokens[i % len(tokens)]
                response = await client.post("/v1/recommend", json={}, headers={"Authorization": f"Bearer {token}"})
                if response.status_code != 200:
                    raise RuntimeError(response.text[:300])
                done += 1
                i += connections

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(connections)))
        return done / (time.perf_counter() - started)


async def open_loop(base: str, tokens: list[str], rate: float, seconds: float) -> list[float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=64)) as client:

        async def one(i: int) -> None:
            started = time.perf_counter()
            response = await client.post(
                "/v1/recommend", json={}, headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
            )
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(response.text[:300])

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def measure(base: str, tokens: list[str], seconds: float) -> tuple[float, float, float]:
    # The client's own full collection (it has just built the population) stopped its loop for ~80 ms
    # and showed up as the server's latency: out of the collector's sight with it.
    gc.collect()
    gc.freeze()
    asyncio.run(closed_loop(base, tokens, 1.0))  # warm-up
    throughput = asyncio.run(closed_loop(base, tokens, seconds))
    # 2,000 requests: with 500, the p99 was the 5th-slowest request and moved with any one hiccup.
    latencies = asyncio.run(open_loop(base, tokens, 100, LATENCY_SECONDS))
    return throughput, pct(latencies, 50), pct(latencies, 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--llm", action="store_true", help="also measure with LLM generation on (a real LiteLLM proxy, canned model)"
    )
    args = parser.parse_args()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("OO_") and k != "DATABASE_URL"}
    # Every request makes a fresh decision: the shown-tip hold (a cheap read) would flatter the numbers.
    base_env |= {
        "OO_LOG_LEVEL": "WARNING",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "OO_TIP_HOLD_SECONDS": "0",
    }

    bare_rps, bare_p50, bare_p99 = run_baseline("bench.bare_app", base_env, ["x"], args.seconds)
    print(f"bare FastAPI          {bare_rps:8,.0f} req/s | at 100 rps p50 {bare_p50:6.2f} ms  p99 {bare_p99:6.2f} ms")
    floor_tokens = [f"floor_{i}" for i in range(FLOOR_USERS)]
    floor_rps, floor_p50, floor_p99 = run_baseline("bench.floor_app", base_env, floor_tokens, args.seconds)
    print(
        f"floor: FastAPI + kernel, token/state/log/commit {floor_rps:8,.0f} req/s (ratio {floor_rps / bare_rps:.2f}) | "
        f"at 100 rps p50 {floor_p50:6.2f} ms  p99 {floor_p99:6.2f} ms"
    )

    cases = []
    for users, events in ((1_000, 10), (100_000, 10), (1_000, 100_000)):
        rps, p50, p99 = run_oo(base_env, users, events, args.seconds)
        cases.append((rps, p99))
        print(
            f"oO {users:>7,} users, {events:>7,} events/asker {rps:8,.0f} req/s (ratio {rps / bare_rps:.2f}; "
            f"{rps / floor_rps:.2f} of the floor) | "
            f"at 100 rps p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
        )
        if args.llm and (users, events) == (1_000, 10):
            with tempfile.TemporaryDirectory() as proxy_dir:
                proxies = start_proxy(Path(proxy_dir))  # its default `tip-generator` answers valid tips
                proxy = next(proxies)
                llm_env = {**base_env, "LITELLM_URL": proxy.url, "LITELLM_API_KEY": proxy.key}
                try:
                    on_rps, on_p50, on_p99 = run_oo(llm_env, users, events, args.seconds)
                finally:
                    proxies.close()
            print(
                f"oO   same, LLM candidates on    {on_rps:8,.0f} req/s (ratio {on_rps / bare_rps:.2f}; "
                f"{on_rps / rps:.2f} of LLM off) | at 100 rps p50 {on_p50:6.2f} ms  p99 {on_p99:6.2f} ms"
            )

    report_targets(cases, bare_rps, floor_rps)


def report_targets(cases: list[tuple[float, float]], bare_rps: float, floor_rps: float) -> None:
    """Each target against the worst case measured: (throughput, p99) per size."""
    slowest = min(rps for rps, _ in cases)
    worst_p99 = max(p99 for _, p99 in cases)
    targets = [
        (
            f"core loop: ratio to bare FastAPI ≥ {ISSUE_RATIO}",
            slowest / bare_rps >= ISSUE_RATIO,
            f"{slowest / bare_rps:.2f}",
        ),
        (f"p99 ≤ {P99_MS:.0f} ms at 100 req/s", worst_p99 <= P99_MS, f"{worst_p99:.1f} ms"),
        ("latency flat across sizes", slowest >= FLAT * max(rps for rps, _ in cases), f"slowest {slowest:,.0f} req/s"),
        (
            f"ADR 0014: ≥ {SHARE_OF_FLOOR} of the floor",
            slowest / floor_rps >= SHARE_OF_FLOOR,
            f"{slowest / floor_rps:.2f}",
        ),
    ]
    for target, met, measured in targets:
        print(f"target {target}: {measured} {'met' if met else 'NOT met'}")


def run_oo(env: dict[str, str], users: int, events: int, seconds: float) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**env, "OO_DATA_DIR": data_dir}
        tokens = populate(Path(data_dir), env, users, events)
        port = free_port()
        server = serve_oo(env, port)
        try:
            measured = measure(f"http://127.0.0.1:{port}", tokens, seconds)
        finally:
            server.terminate()
            server.wait(timeout=15)
        print(f"   {decision_mix(Path(data_dir))}")
        return measured


def decision_mix(data_dir: Path) -> str:
    """What the measured decisions were: with candidates to rank, and with a tip shown."""
    with sqlite3.connect(data_dir / "oo.sqlite3") as database:
        total, ranked, shown = database.execute(
            "SELECT count(*), sum(candidates != '[]'), sum(chosen IS NOT NULL) FROM recommender_decisions"
        ).fetchone()
    return f"{total:,} decisions: {ranked / total:.0%} ranked candidates, {shown / total:.0%} showed a tip"


if __name__ == "__main__":
    main()
