"""What runs alongside the soak's traffic: `oo` commands in processes of their own on the same
database, one account deletion of a person with many events, and the server's resident memory."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.population import OO, Store, add_leaving_person

DOOMED = "usr_doomed"
# As many as the request benchmark's heaviest asker: erasing them is a long write in the middle of the run.
DOOMED_EVENTS = 100_000


async def add_doomed_person(store: Store) -> str:
    """A person with `DOOMED_EVENTS` check-ins and a token that may delete the account; its plaintext."""
    return await add_leaving_person(store, DOOMED, DOOMED_EVENTS, exists=False)


async def events_left(store: Store) -> int:
    await store.open()
    try:
        (count,) = await store.fetchrow(f"SELECT count(*) FROM events_store WHERE user_id = '{DOOMED}'")
    finally:
        await store.close()
    return int(count)


@dataclass(frozen=True)
class Deletion:
    """`DELETE /v1/me`'s own answer (outside the latency sample) and when its receipt said completed."""

    at_seconds: float
    status: str
    ms: float
    receipt: str
    completed_after_ms: float | None


async def delete_account(base: str, token: str, delay: float) -> Deletion:
    await asyncio.sleep(delay)
    at = time.perf_counter()
    # A client of its own: the deletion takes no connection from the measured traffic's pool.
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        try:
            response = await client.delete("/v1/me", headers={"Authorization": f"Bearer {token}"})
        except httpx.TransportError as error:
            return Deletion(delay, type(error).__name__, (time.perf_counter() - at) * 1000, "none", None)
        ms = (time.perf_counter() - at) * 1000
        if response.status_code != 202:
            return Deletion(delay, str(response.status_code), ms, "none", None)
        receipt = response.json()
        deadline = at + 120
        while receipt["status"] != "completed" and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
            receipt = (await client.get(f"/v1/deletion-receipts/{receipt['receipt_id']}")).json()
        done = (time.perf_counter() - at) * 1000 if receipt["status"] == "completed" else None
        return Deletion(delay, "202", ms, receipt["status"], done)


@dataclass(frozen=True)
class Command:
    """One `oo` command run in a process of its own while the server serves."""

    args: tuple[str, ...]
    exit_code: int
    seconds: float
    output: str  # its last line: an id or token it printed, or why it failed

    @property
    def label(self) -> str:
        return " ".join(self.args[:2])


async def run_command(env: dict[str, str], *args: str, stdin: str | None = None) -> Command:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *OO,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate(None if stdin is None else stdin.encode())
    code = await process.wait()
    lines = out.decode(errors="replace").strip().splitlines()
    return Command(args, code, time.perf_counter() - started, lines[-1] if lines else "")


async def admin_round(env: dict[str, str], delay: float) -> list[Command]:
    """What an operator does by hand: check the schema, create a user, issue and revoke a token, delete
    the user. Each command is its own process on the same database (on SQLite, each takes the write lock)."""
    await asyncio.sleep(delay)
    done = [await run_command(env, "db", "upgrade"), await run_command(env, "users", "create")]
    if done[-1].exit_code != 0:
        return done
    user_id = done[-1].output
    done.append(await run_command(env, "tokens", "issue", "--user", user_id, "--scope", "tips", "--name", "soak"))
    if done[-1].exit_code == 0:
        # The token on standard input, as an operator gives it (an argument would show in `ps`).
        done.append(await run_command(env, "tokens", "revoke", stdin=done[-1].output))
    done.append(await run_command(env, "users", "delete", user_id))
    return done


def rss_mib(pid: int) -> float:
    """The process's resident set (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"process {pid} has no VmRSS")


async def sample_rss(pid: int, every: float, times: int, samples: list[float]) -> None:
    for _ in range(times):
        await asyncio.sleep(every)
        samples.append(rss_mib(pid))
