"""Another process holding SQLite's write lock (the CLI, a worker, a backup tool) stops no one: `/health`
answers and reads proceed, and a writer waits for the lock off the event loop's thread."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from services.app import create_app
from services.bootstrap import bootstrap
from tests.conftest import LOOPBACK, make_settings
from tests.events_factory import checkin

HOLD_THE_WRITE_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
sys.stdin.read()  # until the test closes our standard input
connection.execute("ROLLBACK")
"""


@contextmanager
def write_lock_held_by_another_process(path: Path) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_WRITE_LOCK, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "holding\n"
        yield holder
    finally:
        if holder.stdin is not None and not holder.stdin.closed:
            holder.stdin.close()
        holder.wait(timeout=60)


async def test_a_write_lock_held_elsewhere_stops_neither_health_nor_reads_and_the_writer_waits_for_it(tmp_path):
    container = bootstrap(make_settings(tmp_path / "data", None))
    await container.prepare_storage()
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client,
        ):
            assert (await client.post("/v1/events", json={"events": [checkin()]})).status_code == 200
            with write_lock_held_by_another_process(tmp_path / "data" / "oo.sqlite3") as holder:
                write = asyncio.create_task(client.post("/v1/events", json={"events": [checkin(energy=5)]}))
                # The writer has begun waiting for the lock: its request is in flight, not answered.
                while not container.database.writer_waiting_for_another_process:
                    assert not write.done(), write.result().text
                    await asyncio.sleep(0.01)
                assert (await client.get("/health")).status_code == 200
                settings = await client.get("/v1/me/settings")
                assert settings.status_code == 200
                assert not write.done()  # everyone was served while the writer still waits
                assert holder.stdin is not None
                holder.stdin.close()  # the other process lets go
                assert (await write).status_code == 200
            stored = (await client.get("/v1/me/export")).json()["events"]["events"]
            checkins = [e["payload"]["energy"] for e in stored if e["type"] == "profile.checkin_recorded.v1"]
            assert checkins == [3, 5]
    finally:
        await container.database.dispose()
