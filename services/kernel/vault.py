"""The token vault: secrets at rest sealed with AES-256-GCM, each under a named key and bound to its place.

A sealed value is a compact envelope, `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`: the key id
says which key of the keyring opens it, so keys can rotate while older ciphertexts still open. The
associated data binds the envelope's header and the value's place (table, row, column): a ciphertext
copied to another person's row, or from one column to another, does not open. GCM authenticates
everything, so a changed bit is refused; nothing ever opens to a wrong plaintext.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENVELOPE_VERSION = "v1"
KEY_BYTES = 32  # AES-256
# 96 bits, GCM's own size, drawn at random for every seal: with at most ~2^32 seals under one key the
# chance of a repeat stays below GCM's 2^-32 bound (NIST SP 800-38D §8.3); keys rotate long before that.
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class VaultError(Exception):
    """A vault problem; its message never holds a key, a plaintext or a ciphertext."""


class SealedValueRefused(VaultError):
    """A sealed value that does not open: tampered with, moved from another row or column, or sealed
    under a key the keyring does not hold."""


class KeyringError(VaultError):
    """A keyring that cannot be used as given (malformed, a key of the wrong size, no current key)."""


@dataclass(frozen=True)
class Place:
    """Where a sealed value lives: its table, its row's key and its column. Part of the associated data."""

    table: str
    row: tuple[str, ...]
    column: str

    def associated_data(self, header: str) -> bytes:
        # Each part length-prefixed: ("ab", "c") and ("a", "bc") must not bind the same bytes.
        parts = [part.encode() for part in (header, self.table, *self.row, self.column)]
        return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


class Keyring:
    """Named AES-256 keys, one of them current (new seals use it; every key still opens what it sealed)."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        for key_id, key in keys.items():
            if not KEY_ID.fullmatch(key_id):
                raise KeyringError(f"key id {key_id!r}: expected 1–32 letters, digits, '-' or '_'")
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {key_id!r}: expected {KEY_BYTES} bytes (AES-256), got {len(key)}")
        if current not in keys:
            raise KeyringError(f"the current key {current!r} is not one of the keyring's keys")
        self.current = current
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    def cipher(self, key_id: str) -> AESGCM | None:
        return self._ciphers.get(key_id)

    def __repr__(self) -> str:  # ids only: a keyring in a traceback or a log line shows no key
        return f"Keyring(current={self.current!r}, key_ids={sorted(self._ciphers)!r})"


class KeyringSource(Protocol):
    """Where the vault's keys come from: a setting (fixed for the process's life) or a key file, which
    `oo vault rotate` may change under a running process."""

    def keyring(self) -> Keyring:
        """The keyring as it stands now (cheap: called on every seal)."""
        ...

    def reloaded(self) -> Keyring:
        """The keyring read again, for a key id the last one did not hold."""
        ...


class TokenVault:
    def __init__(self, source: KeyringSource) -> None:
        self._source = source

    @property
    def current_key_id(self) -> str:
        return self._source.keyring().current

    def seal(self, plaintext: str, place: Place) -> str:
        """`plaintext` encrypted under the current key with a fresh random nonce, bound to `place`."""
        return self.seal_together([(plaintext, place)])[1][0]

    def seal_together(self, values: Sequence[tuple[str, Place]]) -> tuple[str, list[str]]:
        """Several values sealed under one key (a row's, which names that key once), and the key's id."""
        keyring = self._source.keyring()
        header = _header(keyring.current)
        cipher = keyring.cipher(keyring.current)
        assert cipher is not None  # a Keyring holds its current key by construction
        envelopes = []
        for plaintext, place in values:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, plaintext.encode(), place.associated_data(header))
            envelopes.append(f"{header}.{_encode(nonce + sealed)}")
        return keyring.current, envelopes

    def open(self, envelope: str, place: Place) -> str:
        """The plaintext sealed for `place`; SealedValueRefused if it was not sealed there, was changed,
        or was sealed under a key the keyring does not hold."""
        key_id, body = _parse(envelope)
        cipher = self._source.keyring().cipher(key_id) or self._source.reloaded().cipher(key_id)
        if cipher is None:
            raise SealedValueRefused(
                f"a value in {place.table}.{place.column} is sealed under key {key_id!r}, "
                "which the keyring does not hold"
            )
        try:
            plaintext = cipher.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], place.associated_data(_header(key_id)))
        except InvalidTag:
            raise SealedValueRefused(
                f"a value in {place.table}.{place.column} does not open here: changed, "
                "or moved from another row or column"
            ) from None
        return plaintext.decode()

    def __repr__(self) -> str:
        return f"TokenVault({self._source.keyring()!r})"


def key_id_of(envelope: str) -> str:
    """The id of the key an envelope is sealed under (SealedValueRefused if it is not an envelope)."""
    return _parse(envelope)[0]


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _header(key_id: str) -> str:
    return f"{ENVELOPE_VERSION}.{key_id}"


def _parse(envelope: str) -> tuple[str, bytes]:
    version, _, rest = envelope.partition(".")
    key_id, _, encoded = rest.partition(".")
    if version != ENVELOPE_VERSION or not KEY_ID.fullmatch(key_id) or not encoded:
        raise SealedValueRefused(f"not a sealed value of this vault (expected {ENVELOPE_VERSION}.<key id>.<data>)")
    try:
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        body = b""
    # Canonical only: the unused low bits of the last character would otherwise let another text
    # (and any character outside the alphabet, which the decoder skips) stand for the same bytes.
    if not _BASE64URL.fullmatch(encoded) or _encode(body) != encoded:
        raise SealedValueRefused("a sealed value whose data is not canonical base64url")
    if len(body) < NONCE_BYTES + TAG_BYTES:
        raise SealedValueRefused("a sealed value too short to hold a nonce and a tag")
    return key_id, body
