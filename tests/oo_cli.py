"""`oo` run inside the test's process: its Typer app invoked as a shell would call it, with the same
environment, standard input, output, error and exit code. It is the CLI's own code, without the
seconds a new interpreter takes to import oO. A test about the process itself (its entry point, its
argv as `ps` shows it, a signal) starts the real one (`tests/test_processes.py`)."""

from __future__ import annotations

import logging
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

from typer.testing import CliRunner

from services.cli import cli

_SETTINGS = ("OO_", "DATABASE_URL", "NATS_URL", "LITELLM_URL")


def oo_here(env: dict[str, str], *args: str, given: str | None = None) -> subprocess.CompletedProcess[str]:
    """`oo <args>` with `env`'s settings (and no other `OO_*` of this process), `given` on its standard input."""
    settings: dict[str, str | None] = {name: None for name in os.environ if name.startswith(_SETTINGS)}
    settings.update({name: value for name, value in env.items() if name.startswith(_SETTINGS)})
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        # On a thread of its own: the command runs its own event loop, as in a shell, and the caller
        # may be inside one (an async test).
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(CliRunner().invoke, cli, list(args), env=settings, input=given).result()
    finally:  # the command configures the process's logging, as `oo` does
        root.handlers, root.level = handlers, level
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["oo", *args], result.exit_code, result.stdout, result.stderr)


def oo_ok(env: dict[str, str], *args: str) -> str:
    """`oo <args>`'s output, stripped; it must succeed."""
    done = oo_here(env, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
