"""A stand-in for Sign in with Apple's server-to-server notifications, as Apple documents them:

- `GET /auth/keys`: Apple's public keys (a JWKS of RS256 keys, each with its `kid`);
- a notification is `POST <the app's endpoint>` with `{"payload": "<JWS>"}`, the JWS signed RS256 by
  one of those keys, its claims `iss` (`https://appleid.apple.com`), `aud` (the app's client id),
  `iat`, `jti` and `events` — a JSON string `{"type", "sub", "event_time"}` where `type` is
  `email-disabled`, `email-enabled`, `consent-revoked` or `account-delete`.

Tests drive it under `/_sim/`: `POST /_sim/notify` signs a notification (and delivers it when given the
app's endpoint), `POST /_sim/rotate` publishes a new current key. State is in memory; nothing here is
for production.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import httpx
from fastapi import FastAPI, Request
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

APPLE_ISSUER = "https://appleid.apple.com"


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(5), "use": "sig", "alg": "RS256"})


def create_app() -> FastAPI:
    app = FastAPI(title="Apple notifications simulator")
    keys: list[RSAKey] = [_new_key()]

    @app.get("/auth/keys")
    async def published() -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in keys]}

    @app.post("/_sim/rotate")
    async def rotate() -> dict[str, str]:
        keys.insert(0, _new_key())
        return {"kid": str(keys[0].kid)}

    @app.post("/_sim/notify")
    async def notify(request: Request) -> dict[str, Any]:
        """Body: `type`, `sub`, `aud`; optional `url` (deliver there), `iat` (seconds), and for tests of
        forgeries `iss`, `alg_none`, `unpublished_key`."""
        body = await request.json()
        issued = int(body.get("iat", time.time()))
        claims = {
            "iss": body.get("iss", APPLE_ISSUER),
            "aud": body["aud"],
            "iat": issued,
            "jti": secrets.token_hex(8),
            "events": json.dumps({"type": body["type"], "sub": body["sub"], "event_time": issued * 1000}),
        }
        signer = _new_key() if body.get("unpublished_key") else keys[0]
        if body.get("alg_none"):
            header = {"alg": "none", "kid": str(keys[0].kid)}
            # A forgery for tests: "none" signs nothing, so any key object will do for the library.
            payload = jwt.encode(header, claims, OctKey.generate_key(256), algorithms=["none"])
        else:
            payload = jwt.encode({"alg": "RS256", "kid": str(signer.kid)}, claims, signer)
        answer: dict[str, Any] = {"payload": payload}
        if body.get("url"):
            async with httpx.AsyncClient(timeout=30) as client:
                delivered = await client.post(body["url"], json={"payload": payload})
            answer |= {"status": delivered.status_code, "answer": delivered.json()}
        return answer

    return app
