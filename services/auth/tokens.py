"""Personal API tokens: `oo_pat_<token id>_<secret>`. Only SHA-256(secret) is stored.

The secret has 256 bits of entropy, so a plain SHA-256 (no slow KDF) is the right hash: there is
nothing to brute-force, and the lookup by token id keeps verification O(1).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "oo_pat_"
_TOKEN = re.compile(r"^oo_pat_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class NewToken:
    token_id: str
    plaintext: str
    secret_sha256: str


def mint_token() -> NewToken:
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewToken(token_id, f"{PREFIX}{token_id}_{secret}", _digest(secret))


def parse_token(token: str) -> tuple[str, str] | None:
    """(token id, secret) of a well-formed token, else None."""
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


def token_id_of(text: str) -> str | None:
    """The token id a whole token or a bare id names, else None (neither)."""
    parsed = parse_token(text)
    if parsed:
        return parsed[0]
    return text if _TOKEN_ID.match(text) else None


def secret_matches(secret: str, stored_sha256: str) -> bool:
    return hmac.compare_digest(_digest(secret), stored_sha256)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
