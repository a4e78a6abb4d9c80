"""The real processes, as a new user runs them: `oo serve`, the CLI, the worker and the ML sidecar."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import empty_postgres_url
from tests.events_factory import checkin
from tests.oo_cli import oo_here, oo_ok
from tests.postgres_cluster import free_port

OO = [sys.executable, "-m", "services"]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OO_") and k != "DATABASE_URL"}
    return {**env, "OO_DATA_DIR": str(data_dir), **extra}


def oo(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*OO, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextmanager
def running(env: dict[str, str], *args: str, url: str) -> Iterator[subprocess.Popen[bytes]]:
    """`oo <args>` until the block ends, once `url` answers 200. Its output goes to a file: a pipe
    nobody reads can fill and stop it, and reading a pipe of a process still running never returns."""
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen([*OO, *args], env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            # Readiness is polled; the bound only catches a server that will never come up (a loaded
            # 2-core machine has taken over 30 s to start one beside the suite).
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    process.wait(timeout=15)
                    output.seek(0)
                    raise AssertionError(f"{args} did not become ready:\n{output.read().decode(errors='replace')}")
                time.sleep(0.1)
            yield process
        finally:
            process.terminate()
            process.wait(timeout=15)


def _new_user_journey(env: dict[str, str]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(env, "serve", "--port", str(port), url=f"{base}/ready"):
        user_id = oo(env, "users", "create")
        token = oo(env, "tokens", "issue", "--user", user_id)
        auth = {"Authorization": f"Bearer {token}"}
        posted = [checkin(), checkin(2, 3)]
        assert httpx.post(f"{base}/v1/events", json={"events": posted}, headers=auth).status_code == 200
        bad = httpx.post(f"{base}/v1/events", json={"events": [checkin(), checkin(energy=7)]}, headers=auth)
        assert bad.status_code == 422

        export = httpx.get(f"{base}/v1/me/export", headers=auth).json()
        assert {e["id"] for e in export["events"]["events"] if e["type"] == "profile.checkin_recorded.v1"} == {
            e["id"] for e in posted
        }
        assert httpx.delete(f"{base}/v1/me", headers=auth).status_code == 202
        assert httpx.get(f"{base}/v1/me", headers=auth).status_code == 401


def backend_env(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment of a process on SQLite (the default) or on a fresh, empty Postgres database."""
    if backend == "sqlite":
        return _env(tmp_path / "data")
    cluster = request.getfixturevalue("postgres_cluster")
    url = asyncio.run(empty_postgres_url(cluster))
    return _env(tmp_path / "data", DATABASE_URL=url)


def test_new_user_journey_on_the_embedded_default(tmp_path):
    _new_user_journey(_env(tmp_path / "data"))
    assert (tmp_path / "data" / "oo.sqlite3").exists()


def test_new_user_journey_on_postgres(tmp_path, request):
    _new_user_journey(backend_env(tmp_path, "postgres", request))
    assert not (tmp_path / "data" / "oo.sqlite3").exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_worker_and_ml_sidecar_serve_their_health(tmp_path, backend, request):
    env = backend_env(tmp_path, backend, request)
    worker_port, ml_port = free_port(), free_port()
    with running(env, "worker", "--port", str(worker_port), url=f"http://127.0.0.1:{worker_port}/ready"):
        assert httpx.get(f"http://127.0.0.1:{worker_port}/health").json()["status"] == "ok"
    with running(env, "ml", "serve", "--port", str(ml_port), url=f"http://127.0.0.1:{ml_port}/ready"):
        assert httpx.get(f"http://127.0.0.1:{ml_port}/health").json()["status"] == "ok"


def test_local_mode_refuses_to_listen_beyond_loopback(tmp_path):
    done = subprocess.run(
        [*OO, "serve", "--host", "0.0.0.0"], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "OO_HOST='0.0.0.0' is not a loopback address" in done.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OO_PORT", "eighty"),
        ("OO_LOCAL_MODE", "perhaps"),
        ("OO_METRICS", "sometimes"),
        ("OO_EVENTS_MAX_FUTURE_SKEW_SECONDS", "-5"),
    ],
)
def test_a_wrong_setting_stops_start_up_naming_the_variable(tmp_path, variable, value):
    done = subprocess.run(
        [*OO, "serve"], env=_env(tmp_path, **{variable: value}), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert f"{variable}={value!r}" in done.stderr


def test_a_wrong_option_is_refused_with_a_message_not_a_traceback(tmp_path):
    done = subprocess.run(
        [*OO, "serve", "--port", "70000"], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--port=70000" in done.stderr
    assert "Traceback" not in done.stderr


def test_nothing_connects_or_writes_at_import_time(tmp_path):
    data_dir = tmp_path / "never-made"
    code = "import services.app, services.worker, services.cli, ml.serving.app"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(data_dir, DATABASE_URL="postgresql://nowhere:1/x"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert not data_dir.exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_revoking_a_token_from_the_cli(tmp_path, backend, request):
    env = backend_env(tmp_path, backend, request)
    user_id = oo(env, "users", "create")  # the real entry point once; the rest in this process
    token = oo_ok(env, "tokens", "issue", "--user", user_id, "--scope", "events:write")
    revoked = oo_here(env, "tokens", "revoke", given=token + "\n")
    assert (revoked.returncode, revoked.stdout) == (0, "revoked\n")
    # Idempotent: the token is as unusable as the first time, and the answer says why.
    again = oo_here(env, "tokens", "revoke", given=token)
    assert again.stdout.startswith("already unusable: no live token has this id")
    typo = oo_here(env, "tokens", "revoke", given="oo_pat_…")
    assert (typo.returncode, typo.stderr.strip()) == (
        2,
        "oo: not a token: expected oo_pat_<16 hex digits>_<secret>, or the 16 hex digits",
    )
    other = oo_ok(env, "tokens", "issue", "--user", user_id)
    assert oo_ok(env, "tokens", "revoke", other.split("_")[2]) == "revoked"  # its id may be an argument


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_cli_refuses_a_whole_token_as_an_argument_where_ps_would_show_it(tmp_path, backend, request):
    env = backend_env(tmp_path, backend, request)
    token = oo_ok(env, "tokens", "issue", "--user", oo_ok(env, "users", "create"))
    # The real process: what it is given as an argument is what `ps` shows every user of the machine.
    shown = subprocess.run([*OO, "tokens", "revoke", token], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 2
    assert shown.stderr.startswith("oo: a whole token as an argument is visible to every user of this machine")
    assert token not in shown.stdout + shown.stderr
    typo = oo_here(env, "tokens", "revoke", "0123")
    assert (typo.returncode, typo.stderr.strip()) == (
        2,
        "oo: not a token id: expected the 16 hex digits after oo_pat_ (the whole token goes on standard input)",
    )
    # Refused, not revoked: the token was still live.
    assert oo_here(env, "tokens", "revoke", given=token).stdout == "revoked\n"
    unknown = oo_here(env, "tokens", "issue", "--user", "usr_missing")
    assert unknown.returncode == 1
    assert "no active user" in unknown.stderr
