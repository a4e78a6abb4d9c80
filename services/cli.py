"""The `oo` command: serve the processes, migrate, and manage users, tokens, consents, the vault's keys
and the keys that sign access tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
import uvicorn
from pydantic import ValidationError

from oo_contracts.consents import ConsentChange, ConsentHow, ConsentPurpose, ConsentsUpdate, current_version
from oo_contracts.identity import ALL_SCOPES, Role, Scope
from services.auth.access_tokens import ACCESS_SECONDS, SigningKeys
from services.auth.api import SIGNING_KEYS_FILE, parse_token
from services.bootstrap import Container, bootstrap
from services.kernel.keyring import KeyringFile
from services.kernel.logging import configure_logging
from services.kernel.vault import KeyringError
from services.kernel.vault_rotation import RotationReport, reseal_all, rows_by_key
from services.settings import ConfigurationError, Settings, load_settings

cli = typer.Typer(help="oO: one perfectly-timed tip.", no_args_is_help=True, add_completion=False)
users = typer.Typer(help="Users.", no_args_is_help=True)
tokens = typer.Typer(help="Personal API tokens.", no_args_is_help=True)
db = typer.Typer(help="The database.", no_args_is_help=True)
ml = typer.Typer(help="The ML sidecar.", no_args_is_help=True)
vault = typer.Typer(help="The token vault: provider tokens sealed at rest, and their keys.", no_args_is_help=True)
consents = typer.Typer(help="What a person lets oO do, purpose by purpose (ADR 0022).", no_args_is_help=True)
signing_keys = typer.Typer(help="The keys oO signs API clients' access tokens with (ADR 0025).", no_args_is_help=True)
events = typer.Typer(help="The events as mirrored to JetStream by the worker (ADR 0031).", no_args_is_help=True)
for name, group in (
    ("events", events),
    ("signing-keys", signing_keys),
    ("users", users),
    ("tokens", tokens),
    ("db", db),
    ("ml", ml),
    ("vault", vault),
    ("consents", consents),
):
    cli.add_typer(group, name=name)

T = TypeVar("T")


def _settings(**gateway_overrides: object) -> Settings:
    try:
        settings = load_settings()
    except ConfigurationError as error:
        typer.echo(f"oo: {error}", err=True)
        raise typer.Exit(2) from None
    overrides = {key: value for key, value in gateway_overrides.items() if value is not None}
    if overrides:
        try:
            gateway = type(settings.gateway).model_validate({**settings.gateway.model_dump(), **overrides})
        except ValidationError as error:
            wrong = "; ".join(f"--{e['loc'][0]}={e.get('input')!r}: {e['msg']}" for e in error.errors())
            typer.echo(f"oo: invalid option: {wrong}", err=True)
            raise typer.Exit(2) from None
        settings = dataclasses.replace(settings, gateway=gateway)
    configure_logging(settings.core.log_level)
    return settings


def _with_container(work: Callable[[Container], Awaitable[T]]) -> T:
    async def run() -> T:
        container = bootstrap(_settings())
        try:
            await container.prepare_storage()
            return await work(container)
        finally:
            await container.close()

    return asyncio.run(run())


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides OO_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides OO_PORT.")] = None,
    no_jobs: Annotated[
        bool, typer.Option("--no-jobs", help="Run no jobs here, only defer them (OO_EMBEDDED_JOBS=false).")
    ] = False,
) -> None:
    """Serve the api process (gateway and every module) on OO_HOST:OO_PORT."""
    settings = _settings(host=host, port=port)
    if no_jobs:
        settings = dataclasses.replace(settings, jobs=settings.jobs.model_copy(update={"embedded_jobs": False}))
    problem = settings.gateway.bind_problem()
    if problem:
        typer.echo(f"oo: refusing to start: {problem}", err=True)
        raise typer.Exit(2)
    from services.app import create_app

    try:
        app = create_app(settings)
    except ConfigurationError as error:
        typer.echo(f"oo: refusing to start: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"oO is serving on http://{settings.gateway.host}:{settings.gateway.port}", err=True)
    uvicorn.run(app, host=settings.gateway.host, port=settings.gateway.port, log_config=None, access_log=False)


@cli.command()
def worker(
    host: Annotated[str, typer.Option(help="Address of the worker's health endpoints.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the worker's health endpoints.")] = 8001,
) -> None:
    """Run the worker process (scheduled jobs) with /health, /ready and /metrics."""
    from services.worker import create_worker_app

    uvicorn.run(create_worker_app(_settings()), host=host, port=port, log_config=None, access_log=False)


@cli.command()
def topology(
    database_url: Annotated[
        str | None, typer.Option(envvar="DATABASE_URL", help="The Postgres every process shares (DATABASE_URL).")
    ] = None,
    nats_url: Annotated[
        str | None, typer.Option(envvar="NATS_URL", help="The NATS with JetStream the worker relays to (NATS_URL).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address every process listens on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65_000, help="The first api's port; the next ones, the worker, then ML follow.")
    ] = 8000,
    apis: Annotated[int, typer.Option(min=1, max=8, help="How many api processes.")] = 2,
) -> None:
    """Run the production topology on this machine: api ×N (jobs off), the worker and the ML sidecar, on
    Postgres and NATS; each waited on until ready, all stopped when one exits or on Ctrl-C."""
    from services import topology as top

    if not database_url or not database_url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        typer.echo("oo: the topology shares one Postgres: set DATABASE_URL=postgresql://… (--database-url)", err=True)
        raise typer.Exit(2)
    if not nats_url:
        typer.echo("oo: the worker relays to NATS JetStream: set NATS_URL=nats://… (--nats-url)", err=True)
        raise typer.Exit(2)
    env = top.environment(database_url, nats_url)
    problem = top.migrate(env)
    if problem:
        typer.echo(f"oo: the database could not be migrated:\n{problem}", err=True)
        raise typer.Exit(1)
    group = top.members(host, port, apis, llm=bool(env.get("LITELLM_URL")))
    try:
        with top.running(group, host, env, lambda line: typer.echo(line, err=True)) as processes:
            typer.echo(f"oO's topology is ready: the page at http://{host}:{port}/ (Ctrl-C stops it)", err=True)
            gone = top.watch(processes)
            typer.echo(f"oo: {gone} exited with {processes[gone].returncode}; stopping the others", err=True)
            raise typer.Exit(1)
    except top.TopologyError as error:
        typer.echo(f"oo: {error}; stopped the others", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("oo: stopped", err=True)


@ml.command("serve")
def ml_serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8002,
) -> None:
    """Run the ML sidecar (ml/serving) as its own process."""
    from ml.serving.app import create_ml_app

    configure_logging(_settings().core.log_level)
    from ml.serving.engine import MlEngine
    from ml.serving.settings import LlmSettings

    engine = MlEngine(llm=LlmSettings().generator())
    uvicorn.run(create_ml_app(engine), host=host, port=port, log_config=None, access_log=False)


@ml.command("eval")
def ml_eval(
    people: Annotated[int, typer.Option(min=1, max=500, help="Synthetic people to generate tips for.")] = 10,
    show: Annotated[bool, typer.Option(help="List every judged tip with its score.")] = False,
) -> None:
    """Score LLM tips with the `judge` alias against the rubric (offline; needs LITELLM_URL)."""
    from ml.experiments.llm_eval import evaluate
    from ml.serving.settings import LlmSettings

    settings = LlmSettings()
    if not settings.litellm_url:
        raise typer.BadParameter("set LITELLM_URL (and LITELLM_API_KEY) to the LiteLLM proxy", param_hint="LITELLM_URL")
    key = settings.litellm_api_key.get_secret_value() if settings.litellm_api_key else "no-key"
    report = asyncio.run(
        evaluate(
            settings.litellm_url,
            key,
            people=people,
            call_seconds=settings.llm_timeout_seconds,
            json_mode=settings.llm_json_mode,
            alias=settings.llm_tip_generator_alias,
            embedder=settings.llm_embedder_alias,
        )
    )
    typer.echo(report.render(show=show))


@events.command("tail")
def events_tail(
    durable: Annotated[
        str, typer.Option(help="The durable consumer's name: a later run resumes after its last ack.")
    ] = ("oo-tail"),
    follow: Annotated[bool, typer.Option(help="Keep waiting for new events instead of stopping at the end.")] = False,
) -> None:
    """Print each event of the JetStream mirror once, as one JSON envelope a line (needs NATS_URL)."""
    from oo_contracts.events import EventEnvelope
    from services.events.jetstream import JetStreamLink
    from services.events.tail import EventTail

    settings = _settings()
    if not settings.relay.nats_url:
        typer.echo("oo: set NATS_URL to the NATS server the worker relays to", err=True)
        raise typer.Exit(2)

    async def show(event: EventEnvelope) -> None:
        typer.echo(event.model_dump_json())

    async def run() -> None:
        link = JetStreamLink(settings.relay)
        try:
            tail = EventTail(await link.jetstream(), durable, show)
            while True:
                await tail.pull()
                info = await (await tail.subscription()).consumer_info()
                if not follow and info.num_pending == 0 and info.num_ack_pending == 0:
                    return
        finally:
            await link.close()

    asyncio.run(run())


@db.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the database to the newest migration."""
    from services.migrations.runner import current_revision

    revision = _with_container(lambda c: current_revision(c.database))
    typer.echo(f"database at {revision}")


@users.command("create")
def users_create() -> None:
    """Create a user; prints its id."""

    async def work(container: Container) -> str:
        async with container.database.transaction() as uow:
            return await container.auth.identity.create_user(uow)

    typer.echo(_with_container(work))


@users.command("delete")
def users_delete(user_id: str) -> None:
    """Delete a user and everything oO holds about them (the same path as DELETE /v1/me)."""

    async def work(container: Container) -> str | None:
        async with container.database.transaction() as uow:
            receipt = await container.profile.privacy.request_deletion(uow, user_id)
        return None if receipt is None else str(receipt)

    receipt = _with_container(work)
    if receipt is None:
        typer.echo(f"oo: no user {user_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"deleted; receipt {receipt}")


@users.command("role")
def users_role(
    user_id: str, role: Annotated[Role, typer.Argument(help="admin: reaches the operator's pages; member: not.")]
) -> None:
    """Give a user a role. The only way to make an admin: never a login or a token's claim."""

    async def work(container: Container) -> str:
        async with container.database.transaction() as uow:
            return await container.auth.identity.set_role(uow, user_id, role)

    change = _with_container(work)
    if change == "no_user":
        typer.echo(f"oo: no active user {user_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{user_id} is {role.value}" + (" (already)" if change == "unchanged" else ""))


@tokens.command("issue")
def tokens_issue(
    user: Annotated[str, typer.Option("--user", help="The user id the token acts as.")],
    scope: Annotated[list[Scope] | None, typer.Option("--scope", help="Repeat for several; default: all.")] = None,
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")] = "cli",
) -> None:
    """Issue a personal API token; prints it once (it is not stored)."""

    async def work(container: Container) -> str:
        async with container.database.transaction() as uow:
            token = await container.auth.identity.issue_token(uow, user, scopes=scope or ALL_SCOPES, name=name)
        return token.plaintext

    from services.kernel.errors import ApiError

    try:
        typer.echo(_with_container(work))
    except ApiError as error:
        typer.echo(f"oo: {error.message}", err=True)
        raise typer.Exit(1) from None


@tokens.command("revoke")
def tokens_revoke(
    token_id: Annotated[
        str | None, typer.Argument(help="The token's id (16 hex digits); leave it out to give the token on stdin.")
    ] = None,
) -> None:
    """Revoke a personal API token: the token on standard input (`printf %s "$token" | oo tokens revoke`)
    or its id as the argument — never the token itself there, where `ps` shows it to every user of the
    machine. Revoking one that is already unusable succeeds and says so."""
    if token_id is not None and parse_token(token_id) is not None:
        typer.echo(
            "oo: a whole token as an argument is visible to every user of this machine (`ps`): give its id, "
            'or the token on standard input: printf %s "$token" | oo tokens revoke',
            err=True,
        )
        raise typer.Exit(2)
    token = token_id if token_id is not None else _secret_from_stdin("token")

    async def work(container: Container) -> str:
        async with container.database.transaction() as uow:
            return await container.auth.identity.revoke_token(uow, token)

    outcome = _with_container(work)
    if outcome == "malformed" and token_id is not None:
        typer.echo(
            "oo: not a token id: expected the 16 hex digits after oo_pat_ (the whole token goes on standard input)",
            err=True,
        )
        raise typer.Exit(2)
    if outcome == "malformed":
        typer.echo("oo: not a token: expected oo_pat_<16 hex digits>_<secret>, or the 16 hex digits", err=True)
        raise typer.Exit(2)
    if outcome == "not_live":
        typer.echo("already unusable: no live token has this id (revoked, deleted with its account, or never issued)")
        return
    typer.echo("revoked")


@consents.command("show")
def consents_show(user_id: str) -> None:
    """Where each purpose stands for a person: granted or not, and the answer it comes from."""

    async def work(container: Container) -> list[str]:
        async with container.database.transaction(write=False) as uow:
            states = await container.profile.consent_records.states(uow, user_id)
        lines = []
        for state in states.consents:
            granted = "granted" if state.granted else "not granted"
            answer = "default" if state.at is None else f"v{state.version} {state.how} {state.at.isoformat()}"
            lines.append(f"{state.purpose.value}\t{granted}\t{answer}")
        return lines

    typer.echo("\n".join(_with_container(work)))


def _answer(user_id: str, purposes: list[ConsentPurpose], granted: bool, version: int | None) -> None:
    try:
        update = ConsentsUpdate(
            consents=[
                ConsentChange(purpose=p, granted=granted, version=version or current_version(p)) for p in purposes
            ]
        )
    except ValidationError as error:
        typer.echo(f"oo: {'; '.join(e['msg'] for e in error.errors())}", err=True)
        raise typer.Exit(2) from None

    async def work(container: Container) -> bool:
        async with container.database.transaction() as uow:
            if not await container.auth.identity.hold_active_user(uow, user_id):
                return False
            await container.profile.consents.change(uow, user_id, update, ConsentHow.cli)
        return True

    if not _with_container(work):
        typer.echo(f"oo: no user {user_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{'granted' if granted else 'withdrawn'}: {', '.join(p.value for p in purposes)}")


_VERSION_HELP = "The text version the person answered; default: the current one."


@consents.command("grant")
def consents_grant(
    user_id: str,
    purpose: Annotated[list[ConsentPurpose], typer.Argument(help="One or several purposes.")],
    version: Annotated[int | None, typer.Option(min=1, help=_VERSION_HELP)] = None,
) -> None:
    """Record that a person granted purposes, as they told an operator (recorded as given at the CLI)."""
    _answer(user_id, purpose, True, version)


@consents.command("withdraw")
def consents_withdraw(
    user_id: str,
    purpose: Annotated[list[ConsentPurpose], typer.Argument(help="One or several purposes.")],
    version: Annotated[int | None, typer.Option(min=1, help=_VERSION_HELP)] = None,
) -> None:
    """Record that a person withdrew purposes: the processing stops and what it produced is deleted."""
    _answer(user_id, purpose, False, version)


def _secret_from_stdin(name: str) -> str:
    """A secret from standard input: typed without echo at a terminal, else the piped text."""
    if sys.stdin.isatty():
        return str(typer.prompt(name.capitalize(), hide_input=True, err=True)).strip()
    return sys.stdin.read().strip()


@vault.command("status")
def vault_status() -> None:
    """How many rows each key seals, which key is current, and any row whose key the keyring lacks."""

    async def work(container: Container) -> tuple[dict[str, int], str, frozenset[str], str]:
        keyring = container.keyring.keyring()
        counts = await rows_by_key(container.database, container.sealed_stores)
        return counts, keyring.current, keyring.key_ids, container.keyring.where

    counts, current, held, where = _with_container(work)
    typer.echo(f"keyring: {where}")
    for key_id in sorted(held | set(counts)):
        note = " (current)" if key_id == current else ""
        if key_id not in held:
            note = " (not in the keyring: these rows do not open)"
        typer.echo(f"key {key_id}: {_rows(counts.get(key_id, 0))}{note}")
    if set(counts) - held:
        raise typer.Exit(1)


@vault.command("rotate")
def vault_rotate() -> None:
    """Seal every stored token under a new key: the key file gains a fresh current key; with
    OO_VAULT_KEYRING, the current key given there (add it there, on every process, first)."""

    async def work(container: Container) -> tuple[str | None, RotationReport]:
        added = container.keyring.add_current_key() if isinstance(container.keyring, KeyringFile) else None
        return added, await reseal_all(container.database, container.vault, container.sealed_stores)

    added, report = _with_container(work)
    if added is not None:
        typer.echo(f"new current key {added}")
    typer.echo(
        f"re-sealed {_rows(report.resealed)} under key {report.key_id}; "
        f"{_rows(report.left_under_other_keys)} left under other keys"
    )
    if report.refused:
        typer.echo(f"oo: {_rows(report.refused)} that do not open left as they are: see `oo vault status`", err=True)
        raise typer.Exit(1)
    if report.left_under_other_keys == 0:
        typer.echo("older keys seal nothing now: `oo vault retire KEY_ID` destroys one")


@vault.command("retire")
def vault_retire(key_id: Annotated[str, typer.Argument(help="The id of the key to destroy.")]) -> None:
    """Destroy a key of the key file once no row is sealed under it (after `oo vault rotate`)."""

    async def work(container: Container) -> str | None:
        if not isinstance(container.keyring, KeyringFile):
            return f"the keyring is {container.keyring.where}: remove the key there, on every process"
        still = (await rows_by_key(container.database, container.sealed_stores)).get(key_id, 0)
        if still:
            return f"{_rows(still)} still sealed under key {key_id}: run `oo vault rotate` first"
        try:
            container.keyring.remove_key(key_id)
        except KeyringError as error:
            return str(error)
        return None

    problem = _with_container(work)
    if problem is not None:
        typer.echo(f"oo: {problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"key {key_id} destroyed")


@cli.command()
def contracts(
    write: Annotated[bool, typer.Option("--write", help="Rewrite the committed files.")] = False,
) -> None:
    """Check (or --write) the contract files in packages/shared-types against the code."""
    from services.contracts_snapshot import snapshot_files

    stale = []
    for path, text in snapshot_files().items():
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            stale.append(str(path))
    if stale:
        typer.echo("oo: stale contract files (run `oo contracts --write`):\n  " + "\n  ".join(stale), err=True)
        raise typer.Exit(1)
    typer.echo("contracts written" if write else "contracts up to date")


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def main() -> None:
    cli()


def _signing_keys() -> SigningKeys:
    settings = _settings()
    settings.core.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return SigningKeys(settings.core.data_dir / SIGNING_KEYS_FILE)


@signing_keys.command("status")
def signing_keys_status() -> None:
    """Every key that verifies, and which one signs (never a private part)."""
    keys = _signing_keys()
    for kid in keys.kids:
        typer.echo(f"key {kid}{' (signs new tokens)' if kid == keys.current_kid else ''}")


@signing_keys.command("rotate")
def signing_keys_rotate() -> None:
    """A new key signs from now on; the others keep verifying until retired. Every running process
    reads the key file again at its next token."""
    typer.echo(f"new signing key {_signing_keys().rotate()}")
    typer.echo(f"retire an older key once the tokens it signed have expired ({ACCESS_SECONDS // 60} minutes)")


@signing_keys.command("retire")
def signing_keys_retire(kid: Annotated[str, typer.Argument(help="The id of the key to retire.")]) -> None:
    """Tokens signed by this key stop verifying at once."""
    try:
        _signing_keys().retire(kid)
    except ValueError as error:
        typer.echo(f"oo: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"key {kid} retired")
