"""`oo-sim <provider> …`: serve one simulator on loopback for a local demo, and print how to point oO at it.

Each provider is a subcommand registered in `SUBCOMMANDS`: a function adding its options to a parser,
and one serving it from the parsed arguments.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import uvicorn

from oo_simulators.todoist import ClientApp, create_app


@dataclass(frozen=True)
class Subcommand:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]


def _todoist_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--client-id", default="oo-demo")
    parser.add_argument("--client-secret", default="oo-demo-secret")
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:8000/v1/integrations/todoist/callback")
    parser.add_argument("--refresh-tokens", action="store_true", help="the app gets rotating refresh tokens")
    parser.add_argument("--webhook-url", default=None, help="where item:* webhooks are POSTed")


def _todoist(args: argparse.Namespace) -> None:
    app = create_app(
        clients={args.client_id: ClientApp(args.client_secret, args.redirect_uri, args.refresh_tokens)},
        webhook_url=args.webhook_url,
    )
    base = f"http://{args.host}:{args.port}"
    print("Todoist simulator; point oO at it with:")
    print(f"  OO_TODOIST_API_URL={base}")
    print(f"  OO_TODOIST_OAUTH_URL={base}/oauth")
    print(f"  OO_TODOIST_CLIENT_ID={args.client_id}")
    print(f"  OO_TODOIST_CLIENT_SECRET={args.client_secret}")
    print(f"  OO_TODOIST_REDIRECT_URI={args.redirect_uri}")
    print(f"Consent answers 'allow' as user 'demo'; change it with POST {base}/_sim/authorize", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


SUBCOMMANDS: dict[str, Subcommand] = {
    "todoist": Subcommand("serve the Todoist API v1 simulator", _todoist_arguments, _todoist),
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="oo-sim", description="Serve a provider simulator for a local demo.")
    commands = parser.add_subparsers(dest="provider", required=True)
    for name, subcommand in SUBCOMMANDS.items():
        subcommand.add_arguments(commands.add_parser(name, help=subcommand.help))
    args = parser.parse_args(argv)
    SUBCOMMANDS[args.provider].run(args)


if __name__ == "__main__":
    main()
