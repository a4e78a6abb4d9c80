"""The README's "From scripts" block runs as written against a real `oo serve`, command by command,
in one shell (its variables carry ids from one command to the next); and its list of the event types
a client may post is the list the ingress accepts."""

from __future__ import annotations

import json
import re
import select
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from oo_contracts.events import INGESTIBLE_TYPES
from tests.postgres_cluster import free_port
from tests.test_processes import _env, running

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_URL = "http://127.0.0.1:8000"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# A safety net per command (each `./scripts/oo` starts the locked environment), not a wait.
COMMAND_DEADLINE_SECONDS = 180.0


def from_scripts_block(text: str) -> str:
    after = text[text.index("\nFrom scripts:") :]
    match = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert match, "no ```sh block after 'From scripts:'"
    return match.group(1)


def commands(block: str) -> list[str]:
    """The block's commands as a shell reads them: a line continued by `\\`, or carrying a here-document
    up to its end word, is one command with the lines that follow."""
    found: list[str] = []
    current: list[str] = []
    heredoc_end: str | None = None
    for line in block.splitlines():
        if not current and not line.strip():
            continue
        current.append(line)
        if heredoc_end is not None:
            if line.strip() != heredoc_end:
                continue
            heredoc_end = None
        elif match := re.search(r"<<-?\s*['\"]?(\w+)", line):
            heredoc_end = match.group(1)
            continue
        elif line.endswith("\\"):
            continue
        found.append("\n".join(current))
        current = []
    assert not current, f"unfinished command: {current}"
    return found


@dataclass
class Outcome:
    status: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return dict(json.loads(self.stdout))


class Shell:
    """One bash for the whole block, as a newcomer's terminal is: each command is sourced from a file,
    and a marker line on bash's own output says when it has finished and with what status."""

    def __init__(self, env: dict[str, str], work: Path) -> None:
        self.work = work
        self.count = 0
        self.process = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, command: str) -> Outcome:
        self.count += 1
        script, out, err = (self.work / f"{self.count}.{suffix}" for suffix in ("sh", "out", "err"))
        script.write_text(command + "\n")
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f'. {script} >{out} 2>{err} </dev/null; echo "__done $?"\n')
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], COMMAND_DEADLINE_SECONDS)
        assert ready, f"still running after {COMMAND_DEADLINE_SECONDS:.0f} s:\n{command}\n{err.read_text()}"
        marker = self.process.stdout.readline()
        assert marker.startswith("__done "), marker
        return Outcome(int(marker.split()[1]), out.read_text(), err.read_text())

    def variable(self, name: str) -> str:
        return self.run(f'printf %s "${name}"').stdout

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[tuple[Shell, str]]:
    """A real `oo serve` on a free loopback port and its own data directory, and a shell whose
    `./scripts/oo` uses the same directory, as the README's second terminal does with `./scripts/up`."""
    env = _env(tmp_path / "data", OO_LOG_LEVEL="WARNING")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    work = tmp_path / "commands"
    work.mkdir()
    with running(env, "serve", "--port", str(port), url=f"{url}/ready"):
        terminal = Shell(env, work)
        try:
            yield terminal, url
        finally:
            terminal.close()


def test_the_from_scripts_block_runs_as_written(shell: tuple[Shell, str]) -> None:
    terminal, url = shell
    steps = commands(from_scripts_block(README.read_text()))
    seen: dict[str, str] = {}

    def defines_field(outcome: Outcome) -> None:
        assert (outcome.stdout, outcome.stderr) == ("", "")

    def creates_a_user(outcome: Outcome) -> None:
        assert re.fullmatch(r"usr_[0-9a-f]{24}\n", outcome.stdout)
        seen["user"] = terminal.variable("user")
        assert outcome.stdout == seen["user"] + "\n"

    def issues_a_token(outcome: Outcome) -> None:
        assert re.fullmatch(r"oo_pat_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n", outcome.stdout)
        assert outcome.stdout == terminal.variable("token") + "\n"

    def stores_the_checkin(outcome: Outcome) -> None:
        body = outcome.json()
        assert body["already_known"] == []
        assert [re.fullmatch(UUID, event_id) is not None for event_id in body["stored"]] == [True]

    def answers_a_first_run_step(outcome: Outcome) -> None:
        body = outcome.json()
        assert body["tip"]["source"] == "onboarding"
        seen["decision"] = body["decision_id"]

    def captures_the_decision(outcome: Outcome) -> None:
        assert outcome.stdout == ""
        assert terminal.variable("decision") == seen["decision"]

    def records_done(outcome: Outcome) -> None:
        assert outcome.json() == {"decision_id": seen["decision"], "reaction": "done", "learned": False}

    def exports_the_account(outcome: Outcome) -> None:
        body = outcome.json()
        assert (body["format"], body["user_id"]) == ("oo.account-export.v1", seen["user"])

    def captures_the_receipt(outcome: Outcome) -> None:
        assert outcome.stdout == ""
        seen["receipt"] = terminal.variable("receipt")
        assert re.fullmatch(UUID, seen["receipt"])

    def waits_for_completion(outcome: Outcome) -> None:
        assert outcome.stdout == ""

    def shows_the_completed_receipt(outcome: Outcome) -> None:
        body = outcome.json()
        assert (body["receipt_id"], body["status"]) == (seen["receipt"], "completed")

    def revokes_the_gone_token(outcome: Outcome) -> None:
        assert outcome.stdout.startswith("already unusable: no live token has this id")

    checks: list[Callable[[Outcome], None]] = [
        defines_field,
        creates_a_user,
        issues_a_token,
        stores_the_checkin,
        answers_a_first_run_step,
        captures_the_decision,
        records_done,
        exports_the_account,
        captures_the_receipt,
        waits_for_completion,
        shows_the_completed_receipt,
        revokes_the_gone_token,
    ]
    assert len(steps) == len(checks), "the README's block changed: give each command its check here"
    for step, check in zip(steps, checks, strict=True):
        outcome = terminal.run(step.replace(README_URL, url))
        assert outcome.status == 0, f"{step}\n{outcome.stderr}"
        check(outcome)


def test_the_readme_lists_exactly_the_event_types_a_client_may_post() -> None:
    text = README.read_text()
    table = text[text.index("Event types a client may post") :]
    rows = re.findall(r"^\| `([a-z_]+\.[a-z_]+\.v\d+)` \| (.*?) \|", table, re.MULTILINE)
    listed = {event_type: payload for event_type, payload in rows}
    assert list(listed) == list(INGESTIBLE_TYPES)
    for event_type, model in INGESTIBLE_TYPES.items():
        fields = ", ".join(f"`{name}`" + ("" if f.is_required() else "?") for name, f in model.model_fields.items())
        assert listed[event_type] == fields, event_type
