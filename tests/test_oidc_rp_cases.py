"""The OpenID Foundation's Basic RP checks on the ID token, each against oO's verification of a token
the suite's provider (Canaille) would hand back: signed with that provider's real key (or forged as the
case says), checked against its published JWKS over HTTP. The flow-level cases — code flow, PKCE,
state, nonce, issuer pinning, mix-up — run as whole logins in tests/test_login.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

NONCE = "n-basic-rp"


def provider_key(iam_configuration: dict[str, Any]) -> RSAKey:
    key = KeySet.import_key_set({"keys": iam_configuration["CANAILLE_OIDC"]["ACTIVE_JWKS"]}).keys[0]
    assert isinstance(key, RSAKey)
    return key


def claims(login_app: Any, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    honest = {
        "iss": login_app.provider.issuer,
        "sub": "basic-rp-person",
        "aud": login_app.provider.clients["iam"][0],
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
    }
    return {k: v for k, v in (honest | changes).items() if v is not None}


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def tampered(token: str) -> str:
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    return ".".join([head, body, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()])


def forged(case: str, login_app: Any, key: RSAKey) -> str:
    header = {"alg": "RS256", "kid": key.kid}
    if case == "rp-id_token-sig-rs256":
        return jwt.encode(header, claims(login_app), key)
    if case == "rp-id_token-kid-absent-single-jwks":
        return jwt.encode({"alg": "RS256"}, claims(login_app), key)
    if case == "rp-id_token-bad-sig-rs256":
        return tampered(jwt.encode(header, claims(login_app), key))
    if case == "rp-id_token-sig-none":
        return jwt.encode({"alg": "none"}, claims(login_app), OctKey.generate_key(256), algorithms=["none"])
    if case == "signed-by-a-key-the-provider-never-published":
        stranger = RSAKey.generate_key(2048, parameters={"kid": str(key.kid)})
        return jwt.encode(header, claims(login_app), stranger)
    if case == "alg-confusion-hs256-with-the-public-key":
        # The attack's own token, made by hand: joserfc refuses to take a public key as an HMAC secret.
        signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': key.kid}))}.{_b64(json.dumps(claims(login_app)))}"
        mac = hmac.new(key.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    changes: dict[str, dict[str, Any]] = {
        "rp-id_token-issuer-mismatch": {"iss": "https://elsewhere.example"},
        "rp-id_token-aud": {"aud": "another-client"},
        "rp-id_token-iat": {"iat": None},
        "rp-id_token-sub": {"sub": None},
        "rp-nonce-invalid": {"nonce": "another-nonce"},
        "expired": {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
    }
    return jwt.encode(header, claims(login_app, **changes[case]), key)


ACCEPTED = ["rp-id_token-sig-rs256", "rp-id_token-kid-absent-single-jwks"]
REFUSED = [
    "rp-id_token-bad-sig-rs256",
    "rp-id_token-sig-none",
    "rp-id_token-issuer-mismatch",
    "rp-id_token-aud",
    "rp-id_token-iat",
    "rp-id_token-sub",
    "rp-nonce-invalid",
    "expired",
    "signed-by-a-key-the-provider-never-published",
    "alg-confusion-hs256-with-the-public-key",
]


@pytest.mark.parametrize("case", ACCEPTED)
async def test_a_correct_id_token_is_accepted(login_app, iam_configuration, case):
    token = forged(case, login_app, provider_key(iam_configuration))
    clients = login_app.container.auth.logins._clients
    verified = await clients.identity_in("iam", {"id_token": token, "token_type": "Bearer"}, NONCE)
    assert (verified.issuer, verified.subject) == (login_app.provider.issuer, "basic-rp-person")


@pytest.mark.parametrize("case", REFUSED)
async def test_an_id_token_that_breaks_a_rule_is_refused(login_app, iam_configuration, case):
    token = forged(case, login_app, provider_key(iam_configuration))
    clients = login_app.container.auth.logins._clients
    with pytest.raises(Exception) as refused:  # noqa: PT011 - the code below is the check
        await clients.identity_in("iam", {"id_token": token, "token_type": "Bearer"}, NONCE)
    assert getattr(refused.value, "code", None) == "invalid_id_token", refused.value
