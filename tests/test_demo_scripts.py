"""The demo scripts a newcomer runs: `scripts/demo_oidc.py` serves a real OIDC provider with oO registered,
and prints the `.env.local` lines oO starts with."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from services.auth.settings import AuthSettings
from tests.postgres_cluster import free_port

ROOT = Path(__file__).resolve().parents[1]


def _discovery(issuer: str, process: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "demo_oidc.py exited before it served"
        try:
            return dict(httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2).json())
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"no discovery document at {issuer} within 60 s")


def test_demo_oidc_serves_the_provider_its_printed_settings_name(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "scripts/demo_oidc.py", "--port", str(port), "--state", str(tmp_path / "state.json")]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        discovery = _discovery(f"http://127.0.0.1:{port}", process)
        # It prints before it serves, so the lines are there once the discovery document answers.
        assert process.stdout is not None
        printed = []
        for line in process.stdout:
            if line.startswith("Ctrl-C"):
                break
            printed.append(line.strip())
        env = dict(line.split("=", 1) for line in printed if line.startswith("OO_"))
        assert env["OO_LOCAL_MODE"] == "false"
        providers = AuthSettings(_env_file=None, oidc_providers=json.loads(env["OO_OIDC_PROVIDERS"])).oidc_providers
        demo = providers["demo"]
        assert discovery["issuer"] == demo.issuer == f"http://127.0.0.1:{port}"

        # oO is a registered client: its authorization request goes on to the sign-in form, not to an error.
        authorize = httpx.get(
            discovery["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": demo.client_id,
                "redirect_uri": "http://127.0.0.1:8000/v1/auth/callback/demo",
                "scope": "openid",
                "nonce": "n",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
            },
        )
        assert authorize.status_code == 302, authorize.text[:300]
        assert authorize.headers["location"].endswith("/login")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0  # SIGTERM stops it as Ctrl-C does
