"""Sign in with Apple's server-to-server notifications: Apple tells oO that a person deleted their
Apple account, or stopped using Sign in with Apple with oO.

Apple POSTs `{"payload": "<JWS>"}` to the endpoint registered for the app. The JWS is verified by
joserfc against Apple's published keys (fetched from the pinned `keys_url`, refetched once on an
unknown `kid`, at most once a minute), then its claims: `iss` Apple, `aud` oO's Apple client id, `iat`
neither in the future nor older than a day, and `events` naming the type and the Apple user (`sub`).
Nothing is believed before the signature holds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from joserfc.jwt import JWTClaimsRegistry

from services.auth.settings import APPLE_ISSUER

MAX_AGE_SECONDS = 24 * 3600
LEEWAY_SECONDS = 60
REFETCH_AFTER_SECONDS = 60.0  # an unknown kid refetches the keys at most this often
MAX_PAYLOAD = 8192

NoticeType = Literal["email-disabled", "email-enabled", "consent-revoked", "account-delete"]
KNOWN_TYPES: frozenset[str] = frozenset({"email-disabled", "email-enabled", "consent-revoked", "account-delete"})


class KeysUnavailable(Exception):
    """Apple's keys could not be fetched: nothing can be verified now, and Apple should send it again."""


@dataclass(frozen=True)
class AppleNotice:
    type: NoticeType
    subject: str  # Apple's user id, the `sub` of their ID tokens


class AppleNotifications:
    def __init__(self, client_id: str | None, keys_url: str, timeout: float = 10.0) -> None:
        self._client_id = client_id
        self._keys_url = keys_url
        self._timeout = timeout
        self._keys: KeySet | None = None
        self._fetched_at = 0.0

    @property
    def configured(self) -> bool:
        return self._client_id is not None

    async def verify(self, payload: str) -> AppleNotice | None:
        """The notice a payload signed by Apple carries; None for anything else (forged, expired, for
        another app, or malformed)."""
        if self._client_id is None or len(payload) > MAX_PAYLOAD or payload.count(".") != 2:
            return None
        try:
            keys = await self._keys_for(payload)
            if keys is None:
                return None
            token = jwt.decode(payload, keys, algorithms=["RS256"])
            now = int(time.time())
            JWTClaimsRegistry(
                iss={"essential": True, "value": APPLE_ISSUER},
                aud={"essential": True, "value": self._client_id},
                iat={"essential": True},
                leeway=LEEWAY_SECONDS,
            ).validate(token.claims)
            issued = int(token.claims["iat"])
            if issued > now + LEEWAY_SECONDS or issued < now - MAX_AGE_SECONDS:
                return None
            events = token.claims.get("events")
            event = json.loads(events) if isinstance(events, str) else events
        except httpx.HTTPError as error:
            raise KeysUnavailable("Apple's keys could not be read") from error
        except (JoseError, ValueError, TypeError, KeyError):  # each a refusal, alike
            return None
        if not isinstance(event, dict) or event.get("type") not in KNOWN_TYPES:
            return None
        subject = event.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            return None
        notice_type: NoticeType = event["type"]
        return AppleNotice(type=notice_type, subject=subject)

    async def _keys_for(self, payload: str) -> KeySet | None:
        """Apple's keys, holding the payload's `kid`: refetched when it is unknown, not more than once a minute."""
        header = extract_compact(payload.encode()).protected
        kid = header.get("kid")
        if not isinstance(kid, str):
            return None
        stale = time.monotonic() - self._fetched_at > REFETCH_AFTER_SECONDS
        if self._keys is None or (stale and not any(key.kid == kid for key in self._keys.keys)):
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                answer = await client.get(self._keys_url)
                answer.raise_for_status()
            self._keys = KeySet.import_key_set(answer.json())
            self._fetched_at = time.monotonic()
        return self._keys
