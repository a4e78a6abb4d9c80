"""oO's access JWTs: a token oO signed is accepted, and every forged case of RFC 8725 and the security
reference's list is refused — each its own test, each built with a real JOSE library (joserfc) or by
hand where no library would write it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import OKPKey, RSAKey

from oo_contracts.identity import Scope
from services.auth.access_tokens import ACCESS_SECONDS, KEYS_FILE_NAME, AccessTokens, SigningKeys

USER = "usr_" + "ab" * 12
ISSUER, AUDIENCE = "http://127.0.0.1:8000", "oo-api"
NOW = 1_800_000_000.0


def b64(data: bytes | dict) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return SigningKeys(tmp_path / KEYS_FILE_NAME)


@pytest.fixture
def tokens(keys: SigningKeys) -> AccessTokens:
    return AccessTokens(keys, issuer=ISSUER, audience=AUDIENCE, clock=lambda: NOW)


def claims(**changes: object) -> dict:
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": USER,
        "iat": int(NOW),
        "nbf": int(NOW),
        "exp": int(NOW) + ACCESS_SECONDS,
        "jti": "j1",
        "scope": "tips",
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def signed(keys: SigningKeys, payload: dict, **header: object) -> str:
    key = keys.current
    fields = {"alg": "Ed25519", "kid": key.kid, "typ": "at+jwt"} | header
    return jwt.encode({k: v for k, v in fields.items() if v is not None}, payload, key, algorithms=["Ed25519"])


def test_a_token_oo_signed_is_accepted_with_its_person_and_scopes(tokens: AccessTokens) -> None:
    verified = tokens.verify(tokens.issue(USER, [Scope.tips, Scope.events_write]))
    assert verified is not None
    assert (verified.user_id, verified.scopes) == (USER, frozenset({Scope.tips, Scope.events_write}))
    assert verified.expires_at == NOW + ACCESS_SECONDS


def test_the_keys_file_is_the_owners_alone_and_the_jwks_holds_no_private_part(keys: SigningKeys, tmp_path: Path):
    mode = stat.S_IMODE(os.stat(tmp_path / KEYS_FILE_NAME).st_mode)
    assert mode == 0o600
    published = keys.jwks()["keys"]
    assert [key["kid"] for key in published] == keys.kids
    assert all("d" not in key and key["kty"] == "OKP" for key in published)


FORGED: dict[str, Callable[[SigningKeys], str]] = {
    # J01: no signature at all.
    "alg none": lambda k: f"{b64({'alg': 'none', 'kid': k.current.kid, 'typ': 'at+jwt'})}.{b64(claims())}.",
    # J02: the public key used as an HMAC secret (algorithm confusion).
    "alg confusion, HS256 over the public key": lambda k: _hs256(k),
    # J03: a key oO does not hold, with oO's kid.
    "signed by another key under oO's kid": lambda k: jwt.encode(
        {"alg": "Ed25519", "kid": k.current.kid, "typ": "at+jwt"},
        claims(),
        OKPKey.generate_key("Ed25519"),
        algorithms=["Ed25519"],
    ),
    # J04: RS256, an algorithm oO never signs with.
    "RS256 with an attacker's key": lambda k: jwt.encode(
        {"alg": "RS256", "kid": k.current.kid, "typ": "at+jwt"},
        claims(),
        RSAKey.generate_key(2048),
        algorithms=["RS256"],
    ),
    "unknown kid": lambda k: signed(k, claims(), kid="not-a-kid"),
    "no kid": lambda k: signed(k, claims(), kid=None),
    # J07: the token carries the key to check it with.
    "embedded jwk": lambda k: signed(k, claims(), jwk={"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
    "jku header": lambda k: signed(k, claims(), jku="https://attacker.example/jwks.json"),
    "x5u header": lambda k: signed(k, claims(), x5u="https://attacker.example/cert.pem"),
    # No library writes an unknown critical extension: signed by hand, with oO's own key.
    "crit header": lambda k: by_hand(k, {"alg": "Ed25519", "kid": k.current.kid, "typ": "at+jwt", "crit": ["x-oo"]}),
    "expired": lambda k: signed(k, claims(exp=int(NOW) - 60, iat=int(NOW) - 960, nbf=int(NOW) - 960)),
    "not yet valid": lambda k: signed(k, claims(nbf=int(NOW) + 600)),
    "issued in the future": lambda k: signed(k, claims(iat=int(NOW) + 600)),
    "lives longer than an access token may": lambda k: signed(k, claims(exp=int(NOW) + 86_400)),
    "wrong audience": lambda k: signed(k, claims(aud="another-api")),
    "audience as a list with another": lambda k: signed(k, claims(aud=["another-api", AUDIENCE])),
    "wrong issuer": lambda k: signed(k, claims(iss="https://attacker.example")),
    "no expiry": lambda k: signed(k, claims(exp=None)),
    "no subject": lambda k: signed(k, claims(sub=None)),
    "a subject that is no user id": lambda k: signed(k, claims(sub="admin")),
    "an unknown scope": lambda k: signed(k, claims(scope="tips admin")),
    "another kind of JWT (an ID token's typ)": lambda k: signed(k, claims(), typ="JWT"),
    "no typ": lambda k: signed(k, claims(), typ=None),
    "tampered payload": lambda k: _tampered(k),
    "signature stripped": lambda k: signed(k, claims()).rsplit(".", 1)[0] + ".",
    "oversized": lambda k: signed(k, claims(pad="x" * 5000)),
    "JSON serialization, not compact": lambda k: json.dumps({"payload": b64(claims()), "signature": "x"}),
    "unpadded garbage": lambda k: "eyJ.eyJ.eyJ",
}


def by_hand(keys: SigningKeys, header: dict) -> str:
    d = keys.current.as_dict(private=True)["d"]
    private = Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(f"{d}=="))
    signing_input = f"{b64(header)}.{b64(claims())}"
    return f"{signing_input}.{b64(private.sign(signing_input.encode()))}"


def _hs256(keys: SigningKeys) -> str:
    public = keys.jwks()["keys"][0]["x"]
    head = b64({"alg": "HS256", "kid": keys.current.kid, "typ": "at+jwt"})
    body = b64(claims())
    mac = hmac.new(public.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def _tampered(keys: SigningKeys) -> str:
    head, _, signature = signed(keys, claims()).split(".")
    return f"{head}.{b64(claims(sub='usr_' + 'cd' * 12))}.{signature}"


@pytest.mark.parametrize("case", sorted(FORGED))
def test_a_forged_token_is_refused(case: str, keys: SigningKeys, tokens: AccessTokens) -> None:
    assert tokens.verify(signed(keys, claims())) is not None  # the same keys accept an honest token
    honest = {"alg": "Ed25519", "kid": keys.current.kid, "typ": "at+jwt"}
    assert tokens.verify(by_hand(keys, honest)) is not None  # and one signed by hand the same way
    assert tokens.verify(FORGED[case](keys)) is None


def test_after_a_rotation_earlier_tokens_verify_until_their_key_is_retired(
    keys: SigningKeys, tokens: AccessTokens
) -> None:
    before = tokens.issue(USER, [Scope.tips])
    old = keys.current.kid
    new = keys.rotate()
    after = tokens.issue(USER, [Scope.tips])
    assert keys.current.kid == new != old
    assert tokens.verify(before) is not None
    assert tokens.verify(after) is not None
    assert {key["kid"] for key in keys.jwks()["keys"]} == {old, new}
    keys.retire(str(old))
    assert tokens.verify(before) is None
    assert tokens.verify(after) is not None
    with pytest.raises(ValueError, match="rotate before retiring"):
        keys.retire(new)


def test_a_second_process_reads_the_same_keys(tmp_path: Path) -> None:
    first = SigningKeys(tmp_path / KEYS_FILE_NAME)
    second = SigningKeys(tmp_path / KEYS_FILE_NAME)
    issued = AccessTokens(first, issuer=ISSUER, audience=AUDIENCE, clock=lambda: NOW).issue(USER, [Scope.tips])
    assert AccessTokens(second, issuer=ISSUER, audience=AUDIENCE, clock=lambda: NOW).verify(issued) is not None


def test_a_rotation_by_another_process_signs_the_next_token_and_a_retirement_refuses_at_once(tmp_path: Path):
    serving = SigningKeys(tmp_path / KEYS_FILE_NAME)
    tokens = AccessTokens(serving, issuer=ISSUER, audience=AUDIENCE, clock=lambda: NOW)
    before = tokens.issue(USER, [Scope.tips])
    old = serving.current_kid
    operator = SigningKeys(tmp_path / KEYS_FILE_NAME)  # `oo signing-keys` in a process of its own
    new = operator.rotate()

    after = tokens.issue(USER, [Scope.tips])
    signer = serving.verifying(new)
    assert signer is not None
    assert jwt.decode(after, signer, algorithms=["Ed25519"]).header["kid"] == new
    assert tokens.verify(before) is not None
    operator.retire(old)
    assert tokens.verify(before) is None
    assert tokens.verify(after) is not None


def test_the_signing_keys_command_rotates_shows_and_retires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from typer.testing import CliRunner

    from services.cli import cli

    monkeypatch.setenv("OO_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    first = runner.invoke(cli, ["signing-keys", "status"])
    assert first.exit_code == 0, first.output
    [(old, _)] = [line.split()[1:3] for line in first.output.splitlines()]
    rotated = runner.invoke(cli, ["signing-keys", "rotate"])
    new = rotated.output.split()[3]
    shown = runner.invoke(cli, ["signing-keys", "status"]).output.splitlines()
    assert shown == [f"key {old}", f"key {new} (signs new tokens)"]
    assert runner.invoke(cli, ["signing-keys", "retire", new]).exit_code == 1  # the current key signs
    assert runner.invoke(cli, ["signing-keys", "retire", "nope"]).exit_code == 1
    assert runner.invoke(cli, ["signing-keys", "retire", old]).exit_code == 0
    assert runner.invoke(cli, ["signing-keys", "status"]).output.splitlines() == [f"key {new} (signs new tokens)"]
    [private] = [key["d"] for key in json.loads((tmp_path / KEYS_FILE_NAME).read_text())["keys"]]
    assert all(private not in answer for answer in (first.output, rotated.output, "\n".join(shown)))
