"""A real OIDC provider for trying oO's server mode on one machine: Canaille on loopback, its store in
memory, oO registered as a client and demo people who sign in on Canaille's own form.

The client secret, the people's passwords and the signing key are kept in `.oo-data/` (gitignored), so a
restart keeps `.env.local` valid and each person the same account in oO (Canaille's subject is the user
name). Run it through `./scripts/demo-oidc`; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
from pathlib import Path
from typing import Any

from canaille import create_app
from canaille.app import models
from canaille.backends import Backend
from flask import Flask
from joserfc.jwk import JWKRegistry
from werkzeug.serving import make_server

CLIENT_ID = "oo-demo"
PROVIDER_NAME = "demo"  # oO's name for it: the redirect URI ends in /v1/auth/callback/demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5555, help="Canaille's port on 127.0.0.1 (default 5555)")
    parser.add_argument("--oo-url", default="http://127.0.0.1:8000", help="where oO is served")
    parser.add_argument("--people", type=int, default=1, help="how many demo people (demo, demo2, …)")
    parser.add_argument("--state", type=Path, default=Path(".oo-data/demo-oidc.json"), help="kept secrets")
    args = parser.parse_args()

    issuer = f"http://127.0.0.1:{args.port}"
    names = ["demo"] + [f"demo{n}" for n in range(2, args.people + 1)]
    state = _state(args.state, names)
    app = _canaille(issuer, state["jwk"])
    _register(app, args.oo_url.rstrip("/"), state, names)
    _serve(app, args.port, _instructions(issuer, state, names))


def _state(path: Path, names: list[str]) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if "jwk" not in state:
        jwk = JWKRegistry.generate_key("RSA", 2048)
        jwk.ensure_kid()
        state["jwk"] = jwk.as_dict(private=True)
    state.setdefault("client_secret", secrets.token_urlsafe(24))
    passwords = state.setdefault("passwords", {})
    for name in names:
        passwords.setdefault(name, secrets.token_urlsafe(9))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(state))
    return state


def _canaille(issuer: str, jwk: dict[str, Any]) -> Flask:
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http, which oO accepts on loopback only
    return create_app(
        config={
            "SECRET_KEY": secrets.token_hex(32),
            "SERVER_NAME": issuer.removeprefix("http://"),  # the issuer Canaille announces
            "PREFERRED_URL_SCHEME": "http",
            "CANAILLE": {
                "NAME": "Demo",
                "DATABASE": "memory",
                "JAVASCRIPT": False,
                "ACL": {"DEFAULT": {"PERMISSIONS": ["use_oidc"]}},
                "LOGGING": {"version": 1, "root": {"level": "WARNING"}},
            },
            "CANAILLE_OIDC": {"ACTIVE_JWKS": [jwk]},
        },
        env_prefix="OO_DEMO_OIDC_",  # never reads another program's environment as its settings
    )


def _register(app: Flask, oo_url: str, state: dict[str, Any], names: list[str]) -> None:
    with app.app_context():
        backend = Backend.instance
        backend.save(
            models.Client(
                client_id=CLIENT_ID,
                client_secret=state["client_secret"],
                client_name="oO",
                # A client on a trusted domain (127.0.0.1, *.localhost) is asked no consent.
                client_uri=oo_url,
                redirect_uris=[f"{oo_url}/v1/auth/callback/{PROVIDER_NAME}"],
                grant_types=["authorization_code"],
                response_types=["code"],
                scope=["openid", "profile", "email"],
                token_endpoint_auth_method="client_secret_basic",  # noqa: S106 (a method's name)
            )
        )
        for n, name in enumerate(names, start=1):
            backend.save(
                models.User(
                    user_name=name,
                    password=state["passwords"][name],
                    given_name="Demo",
                    family_name=f"Person {n}",
                    emails=[f"{name}@example.org"],
                )
            )


def _instructions(issuer: str, state: dict[str, Any], names: list[str]) -> str:
    provider = {"issuer": issuer, "client_id": CLIENT_ID, "client_secret": state["client_secret"]}
    lines = [
        f"Canaille, a real OIDC provider, on {issuer}. Put these lines in .env.local, then ./scripts/up:",
        "",
        "OO_LOCAL_MODE=false",
        "OO_OIDC_PROVIDERS=" + json.dumps({PROVIDER_NAME: provider | {"display_name": "Demo"}}),
        "",
        "Sign in with Demo as (user name, password):",
        *(f"  {name:<8}{state['passwords'][name]}" for name in names),
        "",
        "Ctrl-C stops it.",
    ]
    return "\n".join(lines)


def _serve(app: Flask, port: int, instructions: str) -> None:
    server = make_server("127.0.0.1", port, app, threaded=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request between the instructions
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as Ctrl-C does
    print(instructions, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
