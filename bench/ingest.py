"""Ingestion benchmark: POST /v1/events through a real `oo serve`, against a raw-driver bulk insert.

Both run in this process's run on the same machine and database, so the ratio is what counts
(absolute times on these machines are noisy). Target: ≥ 10,000 events/s on Postgres and
≥ 50% of the raw insert ceiling.

    uv run python -m bench.ingest [--events 50000] [--batch 500] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from tests.postgres_cluster import PostgresCluster, free_port

OO = [sys.executable, "-m", "services"]


def make_batches(total: int, batch: int) -> list[list[dict]]:
    start = datetime.now(UTC) - timedelta(days=1)
    events = [
        {
            "id": str(uuid.uuid4()),
            "type": "profile.checkin_recorded.v1",
            "occurred_at": (start + timedelta(seconds=i)).isoformat(),
            "source": "bench",
            "payload": {"energy": 1 + i % 5, "mood": 1 + (i * 7) % 5},
        }
        for i in range(total)
    ]
    return [events[i : i + batch] for i in range(0, total, batch)]


def raw_rows(batches: list[list[dict]], user_id: str) -> list[tuple]:
    now = datetime.now(UTC)
    return [
        (
            uuid.UUID(e["id"]),
            e["type"],
            user_id,
            datetime.fromisoformat(e["occurred_at"]),
            now,
            e["source"],
            1,
            json.dumps(e["payload"]),
        )
        for batch in batches
        for e in batch
    ]


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [*OO, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("oo serve did not become ready")


def oo(env: dict[str, str], *args: str) -> str:
    return subprocess.run([*OO, *args], env=env, capture_output=True, text=True, check=True).stdout.strip()


async def post_all(port: int, token: str, batches: list[list[dict]], concurrency: int) -> float:
    bodies = [json.dumps({"events": batch}).encode() for batch in batches]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post("/v1/events", content=body, headers=headers)
                if response.status_code != 200 or response.json()["already_known"]:
                    raise RuntimeError(f"ingest failed: {response.status_code} {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def api_rate(env: dict[str, str], batches: list[list[dict]], concurrency: int) -> float:
    port = free_port()
    server = start_server(env, port)
    try:
        user_id = oo(env, "users", "create")
        token = oo(env, "tokens", "issue", "--user", user_id, "--scope", "events:write")
        asyncio.run(post_all(port, token, batches[:4], concurrency))  # warm-up: connections, caches, JIT of paths
        elapsed = asyncio.run(post_all(port, token, batches[4:], concurrency))
    finally:
        server.terminate()
        server.wait(timeout=15)
    return sum(len(b) for b in batches[4:]) / elapsed


INSERT = (
    "INSERT INTO events_store (event_id, type, user_id, occurred_at, recorded_at, source, schema_version, "
    "payload) VALUES "
)


async def raw_postgres_rates(url: str, rows: list[tuple], batch: int) -> dict[str, float]:
    connection = await asyncpg.connect(url)
    try:
        rates = {}
        await connection.execute("TRUNCATE events_store CASCADE")  # the api run stored these very ids
        started = time.perf_counter()
        statement = INSERT + "($1, $2, $3, $4, $5, $6, $7, $8::jsonb)"
        for i in range(0, len(rows), batch):
            async with connection.transaction():
                await connection.executemany(statement, rows[i : i + batch])
        rates["executemany"] = len(rows) / (time.perf_counter() - started)
        await connection.execute("TRUNCATE events_store CASCADE")
        columns = ["event_id", "type", "user_id", "occurred_at", "recorded_at", "source", "schema_version", "payload"]
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            await connection.copy_records_to_table("events_store", records=rows[i : i + batch], columns=columns)
        rates["copy"] = len(rows) / (time.perf_counter() - started)
        await connection.execute("TRUNCATE events_store CASCADE")
        return rates
    finally:
        await connection.close()


def raw_sqlite_rate(path: Path, rows: list[tuple], batch: int) -> dict[str, float]:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("DELETE FROM events_store")  # the api run stored these very ids
    converted = [
        (
            r[0].hex,
            r[1],
            r[2],
            r[3].replace(tzinfo=None).isoformat(" "),
            r[4].replace(tzinfo=None).isoformat(" "),
            r[5],
            r[6],
            r[7],
        )
        for r in rows
    ]
    started = time.perf_counter()
    for i in range(0, len(converted), batch):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(INSERT + "(?, ?, ?, ?, ?, ?, ?, ?)", converted[i : i + batch])
        connection.execute("COMMIT")
    rate = len(converted) / (time.perf_counter() - started)
    connection.execute("DELETE FROM events_store")
    connection.close()
    return {"executemany": rate}


def report(name: str, api: float, raw: dict[str, float]) -> None:
    ceiling_name = max(raw, key=lambda key: raw[key])
    ceiling = raw[ceiling_name]
    raws = ", ".join(f"{k} {v:,.0f}/s" for k, v in raw.items())
    print(f"{name:9} api {api:>9,.0f} events/s | raw {raws} | ratio api/raw-{ceiling_name} = {api / ceiling:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    batches = make_batches(args.events + 4 * args.batch, args.batch)
    measured = batches[4:]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("OO_") and k != "DATABASE_URL"}
    base_env["OO_LOG_LEVEL"] = "WARNING"

    print(f"oO ingest benchmark: {args.events:,} events in batches of {args.batch}, {args.concurrency} clients")
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**base_env, "OO_DATA_DIR": data_dir}
        api = api_rate(env, batches, args.concurrency)
        raw = raw_sqlite_rate(Path(data_dir) / "oo.sqlite3", raw_rows(measured, "usr_raw"), args.batch)
        report("sqlite", api, raw)

    cluster = PostgresCluster.start()
    try:
        cluster.create_database("bench")
        with tempfile.TemporaryDirectory() as data_dir:
            env = {**base_env, "OO_DATA_DIR": data_dir, "DATABASE_URL": cluster.url("bench")}
            api = api_rate(env, batches, args.concurrency)
            raw = asyncio.run(raw_postgres_rates(cluster.url("bench"), raw_rows(measured, "usr_raw"), args.batch))
            report("postgres", api, raw)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
