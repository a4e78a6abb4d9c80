"""One real LiteLLM proxy on loopback for the whole test session, with an alias for every case.

The proxy lives in its own tool environment (`.tools/litellm`, from `infra/litellm/requirements.txt`
with hashes; `./scripts/setup --test` installs it). Its model entries use LiteLLM's `mock_response`
(a fixed answer, or an error name such as `litellm.InternalServerError`) and `mock_delay`, so every
request goes through the real proxy: routing by alias, the OpenAI-compatible API, its errors.

It takes seconds to import and start on a loaded machine, so it starts once, when the first test
asks for it, and each test picks its case by the alias oO asks for (`OO_LLM_TIP_GENERATOR_ALIAS`,
`OO_LLM_EMBEDDER_ALIAS` in the app; `alias=`/`embedder=` on the generator).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.postgres_cluster import free_port

LITELLM = Path(__file__).resolve().parents[1] / ".tools" / "litellm" / "bin" / "litellm"
# A safety net for a stuck start, not the wait itself: readiness is asked of the process.
START_DEADLINE_SECONDS = 300.0


def tips(*items: Mapping[str, object]) -> str:
    return json.dumps({"tips": list(items)})


WALK = {"kind": "advice", "text": "Stand up and stretch for a minute.", "why": "a small reset", "ref_id": None}
SAM = {"kind": "todo", "text": "Reply to Sam: two lines is enough.", "why": "about 10 minutes", "ref_id": "t1"}
GHOST = {"kind": "todo", "text": "Finish the tax return.", "why": "due soon", "ref_id": "t-does-not-exist"}
JUDGED = {"relevance": 4, "timing": 3, "actionability": 5, "tone": 5, "comment": "fits the free minutes"}

# The tip-generator of each case. `tip-generator` itself answers valid tips, so an oO left at its
# default alias gets them.
TIP_GENERATORS: dict[str, dict[str, Any]] = {
    "tip-generator": {"mock_response": tips(WALK, SAM)},
    "tip-generator-half-hallucinated": {"mock_response": tips(SAM, GHOST)},
    "tip-generator-hallucinated": {"mock_response": tips(GHOST)},
    "tip-generator-invalid-json": {"mock_response": '{"tips": [{"kind": "advice", "text": '},
    "tip-generator-slow": {"mock_response": tips(WALK), "mock_delay": 5.0},
    "tip-generator-error": {"mock_response": "litellm.InternalServerError"},
}
JUDGE = {"mock_response": json.dumps(JUDGED)}
# No `embedder` alias: at its default, oO deduplicates by word overlap, as behind a proxy without one.
# This one answers the same vector for every text, so any two texts are near-duplicates.
SAME_VECTOR_EMBEDDER = "embedder-same-vector"


@dataclass(frozen=True)
class Proxy:
    url: str
    key: str  # the proxy's master key: it refuses to start without one
    process: subprocess.Popen[bytes]
    log: Path
    start_seconds: float


def config() -> dict[str, Any]:
    def entry(alias: str, params: dict[str, Any]) -> dict[str, Any]:
        # The `openai/` prefix only picks LiteLLM's code path; `mock_response` answers without a call.
        return {"model_name": alias, "litellm_params": {"model": f"openai/{alias}", "api_key": "unused", **params}}

    models = [entry(alias, params) for alias, params in TIP_GENERATORS.items()]
    models.append(entry("judge", JUDGE))
    models.append(entry(SAME_VECTOR_EMBEDDER, {"mock_response": [0.6, 0.8, 0.0]}))
    return {
        "model_list": models,
        # Retrying is oO's job (one retry): the proxy's own retries would turn an error into a timeout.
        "router_settings": {"num_retries": 0},
        "litellm_settings": {"num_retries": 0},
    }


def start(directory: Path) -> Generator[Proxy, None, None]:
    """Start the proxy, wait until it answers its readiness probe, and stop it when closed."""
    if not LITELLM.exists():
        pytest.fail(f"{LITELLM} is missing: ./scripts/setup --test installs the LiteLLM proxy")
    key = f"sk-{secrets.token_hex(16)}"
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_MASTER_KEY": key,
    }
    config_file = directory / "config.yaml"
    config_file.write_text(json.dumps(config()))  # JSON is YAML: the proxy reads it as is
    log = directory / "proxy.log"
    port = free_port()
    began = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(LITELLM), "--config", str(config_file), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log)
        yield Proxy(url, key, process, log, time.monotonic() - began)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the LiteLLM proxy exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(f"{url}/health/readiness", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.1)
    raise AssertionError(f"the LiteLLM proxy was not ready after {START_DEADLINE_SECONDS:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


_start_seconds: list[float] = []


@pytest.fixture(scope="session")
def litellm_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """The session's one proxy, started by the first test that asks for it."""
    proxies = start(tmp_path_factory.mktemp("litellm"))
    try:
        proxy = next(proxies)
        _start_seconds.append(proxy.start_seconds)
        yield proxy
    finally:
        proxies.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Its start is the LLM tests' largest cost on a loaded machine: say what it was.
    for seconds in _start_seconds:
        terminalreporter.write_line(f"LiteLLM proxy: one for the session, ready in {seconds:.1f} s")
