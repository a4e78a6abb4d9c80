"""The production topology on one machine (DESIGN §2, production column): api processes that only defer
jobs, the worker that runs them and relays the outbox to JetStream, and the ML sidecar the others ask
over HTTP, all against one Postgres and one NATS.

`oo topology` migrates once, starts each process, waits until every one is ready, prints where each
listens, and then watches them: when one exits, the others are stopped and the command fails, so a
supervisor (systemd, a terminal) sees it. Ctrl-C stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

OO = [sys.executable, "-m", "services"]
READY_SECONDS = 180.0  # a loaded 2-core machine has taken over 30 s to start one process
STOP_SECONDS = 15.0


@dataclass(frozen=True)
class Member:
    """One process of the topology: its name, command, extra environment and port."""

    name: str
    args: tuple[str, ...]
    port: int
    env: dict[str, str] = field(default_factory=dict)

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}"


def members(host: str, port: int, apis: int, *, llm: bool) -> list[Member]:
    """The api processes on `port`, `port + 1`, …, then the worker, then the ML sidecar."""
    ml_port = port + apis + 1
    ml_url = f"http://{host}:{ml_port}"
    # With an LLM behind the sidecar, the refreshes that the apis defer run in the worker, through it.
    llm_tips = {"OO_LLM_TIPS": "true"} if llm else {}
    shared = {"OO_ML_URL": ml_url, **llm_tips}
    api = [
        Member(f"api-{n + 1}", ("serve", "--no-jobs", "--host", host, "--port", str(port + n)), port + n, shared)
        for n in range(apis)
    ]
    worker = Member("worker", ("worker", "--host", host, "--port", str(port + apis)), port + apis, shared)
    sidecar = Member("ml", ("ml", "serve", "--host", host, "--port", str(ml_port)), ml_port)
    return [sidecar, worker, *api]


class TopologyError(RuntimeError):
    pass


@contextmanager
def running(
    group: Sequence[Member], host: str, env: dict[str, str], say: Callable[[str], None]
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Every member started and ready, in order; all stopped when the block ends, however it ends."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    # A supervisor stops the command with SIGTERM: stop the members too, as on Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for member in group:
            # Our own interpreter and arguments: nothing here comes from a request.
            processes[member.name] = subprocess.Popen([*OO, *member.args], env={**env, **member.env})  # noqa: S603
            wait_ready(member, host, processes[member.name])
            say(f"{member.name:<8} {member.url(host)}  ready")
        yield processes
    finally:
        stop(processes)


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def wait_ready(member: Member, host: str, process: subprocess.Popen[bytes]) -> None:
    """Until the member's `/ready` answers 200; fails if it exits first or never gets there."""
    deadline = time.monotonic() + READY_SECONDS
    url = f"{member.url(host)}/ready"
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise TopologyError(f"{member.name} exited with {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise TopologyError(f"{member.name} was not ready at {url} after {READY_SECONDS:.0f} s")
        time.sleep(0.2)


def stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """Apis first (no new work), then the worker, then the sidecar: the reverse of the start."""
    for process in reversed(processes.values()):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in reversed(processes.values()):
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def watch(processes: dict[str, subprocess.Popen[bytes]]) -> str:
    """Block until a member exits; its name."""
    while True:
        for name, process in processes.items():
            if process.poll() is not None:
                return name
        time.sleep(0.5)


def migrate(env: dict[str, str]) -> str | None:
    """`oo db upgrade` once, before any member starts (two apis migrating at once would race); what went
    wrong, or None."""
    done = subprocess.run([*OO, "db", "upgrade"], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    return done.stderr.strip() if done.returncode != 0 else None


def environment(database_url: str, nats_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url, "NATS_URL": nats_url})
    return env
