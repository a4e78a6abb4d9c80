"""Short-lived access JWTs signed by oO, the keys that sign them, and a verifier that refuses every
forged case of RFC 8725 before anything of the token is trusted.

Keys are Ed25519 (alg `Ed25519`, RFC 9864), each with a `kid`, kept in the data directory's `auth-signing-keys.json`
(owner-only). The current key signs; earlier ones still verify until retired, so a rotation never
cuts off a token already issued (its life is `ACCESS_SECONDS`). Only public keys leave the file, in
the JWKS. joserfc does the cryptography and the claims; the header is read first, by an allow-list.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from oo_contracts.identity import Scope
from services.kernel.private_files import read_or_make, replace_owner_only

ALGORITHM = "Ed25519"  # RFC 9864's fully specified name; `EdDSA` is deprecated
TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068's type: an access token is never taken for another kind of JWT
ACCESS_SECONDS = 900
LEEWAY_SECONDS = 30  # clocks of two api processes may disagree a little, never more
MAX_TOKEN_BYTES = 4096
KEYS_FILE_NAME = "auth-signing-keys.json"
# Who signs and for whom: a token of another issuer, or meant for another API, is never oO's to take.
ISSUER = "urn:oo"
AUDIENCE = "urn:oo:api"
HEADER_FIELDS = frozenset({"alg", "kid", "typ"})  # anything else (jwk, jku, x5u, x5c, crit, b64…) is refused
USER_ID = re.compile(r"usr_[0-9a-f]{24}")
SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    scopes: frozenset[Scope]
    expires_at: float
    token_id: str


class SigningKeys:
    """The keyring file: `{"current": kid, "keys": [private JWK, …]}`, newest last."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._document: dict[str, Any] = json.loads(read_or_make(path, _new_document))
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int]:
        status = self._path.stat()
        return status.st_mtime_ns, status.st_ino

    def _fresh(self) -> dict[str, Any]:
        """The ring as the file holds it now: another process (`oo signing-keys rotate`, a second api
        process) may have replaced it, whole (`replace_owner_only`), since it was read."""
        stamp = self._stamp()
        if stamp != self._seen:
            self._document, self._seen = json.loads(self._path.read_bytes()), stamp
        return self._document

    @property
    def current(self) -> OKPKey:
        return self._private(self._fresh()["current"])

    @property
    def current_kid(self) -> str:
        return str(self._fresh()["current"])

    def verifying(self, kid: str) -> OKPKey | None:
        """The public key of `kid`, if the ring holds it."""
        for key in self._fresh()["keys"]:
            if key["kid"] == kid:
                return OKPKey.import_key({k: v for k, v in key.items() if k != "d"})
        return None

    def jwks(self) -> dict[str, Any]:
        """Every key that still verifies, public parts only."""
        public = [OKPKey.import_key({k: v for k, v in key.items() if k != "d"}) for key in self._fresh()["keys"]]
        return dict(KeySet(public).as_dict(private=False))  # type: ignore[arg-type]

    @property
    def kids(self) -> list[str]:
        return [key["kid"] for key in self._fresh()["keys"]]

    def rotate(self) -> str:
        """A new current key; the others keep verifying until retired."""
        self._fresh()
        key = _new_key()
        self._document["keys"].append(key)
        self._document["current"] = key["kid"]
        self._save()
        return str(key["kid"])

    def retire(self, kid: str) -> None:
        """Tokens signed by `kid` stop verifying. The current key is never retired."""
        self._fresh()
        if kid not in self.kids:
            raise ValueError(f"no signing key {kid!r}")
        if kid == self._document["current"]:
            raise ValueError("the current signing key signs new tokens: rotate before retiring it")
        self._document["keys"] = [key for key in self._document["keys"] if key["kid"] != kid]
        self._save()

    def _private(self, kid: str) -> OKPKey:
        [key] = [key for key in self._document["keys"] if key["kid"] == kid]
        return OKPKey.import_key(key)

    def _save(self) -> None:
        replace_owner_only(self._path, json.dumps(self._document).encode())
        self._seen = self._stamp()


class AccessTokens:
    def __init__(
        self, keys: SigningKeys, *, issuer: str, audience: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._clock = clock

    def jwks(self) -> dict[str, Any]:
        return self._keys.jwks()

    def issue(self, user_id: str, scopes: Iterable[Scope]) -> str:
        now = int(self._clock())
        key = self._keys.current
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user_id,
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_SECONDS,
            "jti": secrets.token_urlsafe(16),
            "scope": " ".join(sorted(scope.value for scope in scopes)),
        }
        header = {"alg": ALGORITHM, "kid": key.kid, "typ": TOKEN_TYPE}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> AccessClaims | None:
        """The token's claims, or None for anything short of a token oO signed, unexpired, for this
        audience. Never raises: every refusal looks alike to the caller (a generic 401)."""
        key = self._key_for(token)
        if key is None:
            return None
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError):
            return None
        return self._valid(decoded.claims)

    def _key_for(self, token: str) -> OKPKey | None:
        if not token.isascii() or len(token) > MAX_TOKEN_BYTES:
            return None
        parts = token.split(".")
        if len(parts) != 3 or not all(SEGMENT.fullmatch(part) for part in parts):
            return None  # an empty signature (alg none), padding or stray characters
        header = _json_segment(parts[0])
        if header is None or set(header) - HEADER_FIELDS:
            return None
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE or not isinstance(header.get("kid"), str):
            return None
        return self._keys.verifying(header["kid"])

    def _valid(self, claims: dict[str, Any]) -> AccessClaims | None:
        now = self._clock()
        try:
            fresh = claims["nbf"] <= now + LEEWAY_SECONDS and claims["iat"] <= now + LEEWAY_SECONDS
            alive = now < claims["exp"] <= now + ACCESS_SECONDS + LEEWAY_SECONDS
            ours = claims["iss"] == self._issuer and claims["aud"] == self._audience
            scopes = frozenset(Scope(value) for value in str(claims["scope"]).split())
        except (KeyError, TypeError, ValueError):
            return None
        subject = claims.get("sub")
        if not (fresh and alive and ours and isinstance(subject, str) and USER_ID.fullmatch(subject)):
            return None
        if not isinstance(claims.get("jti"), str):
            return None
        return AccessClaims(user_id=subject, scopes=scopes, expires_at=float(claims["exp"]), token_id=claims["jti"])


def _json_segment(segment: str) -> dict[str, Any] | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _new_key() -> dict[str, Any]:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": ALGORITHM})
    return dict(key.as_dict(private=True))


def _new_document() -> bytes:
    key = _new_key()
    return json.dumps({"current": key["kid"], "keys": [key]}).encode()
