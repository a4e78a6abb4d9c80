"""A real LiteLLM proxy on loopback, one per test case, whose `tip-generator` answers a fixed reply.

The proxy lives in its own tool environment (`.tools/litellm`, from `infra/litellm/requirements.txt`
with hashes; `./scripts/setup --test` installs it). Its model entries use LiteLLM's `mock_response`
(a fixed answer, or an error name such as `litellm.InternalServerError`) and `mock_delay`, so every
request goes through the real proxy: routing by alias, the OpenAI-compatible API, its errors.
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


@dataclass(frozen=True)
class Reply:
    content: str
    delay_seconds: float = 0.0
    judge: str | None = None  # what the `judge` alias answers, if this proxy has one
    embedding: list[float] | None = None  # the one vector the `embedder` alias answers for any text


@dataclass
class Proxy:
    url: str
    key: str  # the proxy's master key: it refuses to start without one
    process: subprocess.Popen[bytes]


def _config(reply: Reply) -> dict[str, Any]:
    params: dict[str, Any] = {"model": "openai/fixed-reply", "api_key": "unused", "mock_response": reply.content}
    if reply.delay_seconds:
        params["mock_delay"] = reply.delay_seconds
    models = [{"model_name": "tip-generator", "litellm_params": params}]
    if reply.judge is not None:
        judge = {"model": "openai/fixed-judge", "api_key": "unused", "mock_response": reply.judge}
        models.append({"model_name": "judge", "litellm_params": judge})
    if reply.embedding is not None:
        embedder = {"model": "openai/fixed-embedder", "api_key": "unused", "mock_response": reply.embedding}
        models.append({"model_name": "embedder", "litellm_params": embedder})
    return {
        "model_list": models,
        # Retrying is oO's job (one retry): the proxy's own retries would turn an error into a timeout.
        "router_settings": {"num_retries": 0},
        "litellm_settings": {"num_retries": 0},
    }


def start(replies: dict[str, Reply], directory: Path) -> Generator[dict[str, Proxy], None, None]:
    """Start one proxy per reply at once (each takes seconds to import), then wait for them all."""
    if not LITELLM.exists():
        pytest.fail(f"{LITELLM} is missing: ./scripts/setup --test installs the LiteLLM proxy")
    key = f"sk-{secrets.token_hex(16)}"
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_MASTER_KEY": key,
    }
    proxies: dict[str, Proxy] = {}
    try:
        for name, reply in replies.items():
            config = directory / f"{name}.yaml"
            config.write_text(json.dumps(_config(reply)))  # JSON is YAML: the proxy reads it as is
            port = free_port()
            process = subprocess.Popen(
                [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            proxies[name] = Proxy(f"http://127.0.0.1:{port}", key, process)
        for name, proxy in proxies.items():
            _wait_ready(name, proxy)
        yield proxies
    finally:
        for proxy in proxies.values():
            proxy.process.terminate()
        for proxy in proxies.values():
            proxy.process.wait(timeout=20)


def _wait_ready(name: str, proxy: Proxy) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            raise AssertionError(f"the LiteLLM proxy for {name!r} exited with {proxy.process.returncode}")
        try:
            if httpx.get(f"{proxy.url}/health/liveliness", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the LiteLLM proxy for {name!r} never became ready")


# ---- the cases: what `tip-generator` answers behind each proxy ----


def tips(*items: Mapping[str, object]) -> str:
    return json.dumps({"tips": list(items)})


WALK = {"kind": "advice", "text": "Stand up and stretch for a minute.", "why": "a small reset", "ref_id": None}
SAM = {"kind": "todo", "text": "Reply to Sam while the gap lasts.", "why": "due tomorrow · 10 min", "ref_id": "t1"}
GHOST = {"kind": "todo", "text": "Finish the tax return.", "why": "due soon", "ref_id": "t-does-not-exist"}
JUDGED = {"relevance": 4, "timing": 3, "actionability": 5, "tone": 5, "comment": "fits the free minutes"}
REPLIES = {
    "valid": Reply(tips(WALK, SAM), judge=json.dumps(JUDGED)),
    "half_hallucinated": Reply(tips(SAM, GHOST)),
    "hallucinated": Reply(tips(GHOST), embedding=[0.6, 0.8, 0.0]),
    "invalid_json": Reply('{"tips": [{"kind": "advice", "text": '),
    "slow": Reply(tips(WALK), delay_seconds=5.0),
    "error": Reply("litellm.InternalServerError"),
}


@pytest.fixture(scope="session")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Proxy]]:
    """Every case's proxy, started once for the session (they take seconds each to start)."""
    yield from start(REPLIES, tmp_path_factory.mktemp("litellm"))
