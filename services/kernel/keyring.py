"""Where the vault's keys live: a setting holding the keyring (servers), or a key file in the data
directory (the default, made on first start).

Both hold the same JSON text: `{"current": "<key id>", "keys": {"<key id>": "<base64 of 32 bytes>"}}`.
No message of this module ever holds that text or a key: a malformed keyring is named, not shown.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from services.kernel.private_files import read_or_make, replace_owner_only
from services.kernel.vault import KEY_BYTES, Keyring, KeyringError

KEYRING_FILE_NAME = "vault-keyring.json"
KEYRING_SHAPE = '{"current": "<key id>", "keys": {"<key id>": "<base64 of 32 bytes>", …}}'


def parse_keyring(text: str, where: str) -> Keyring:
    """The keyring `text` holds; KeyringError naming `where` (never quoting the text) if it holds none."""
    current, keys = _parse(text, where)
    try:
        return Keyring(keys, current)
    except KeyringError as error:
        raise KeyringError(f"{where}: {error}") from None


def _parse(text: str, where: str) -> tuple[str, dict[str, bytes]]:
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("current"), str)
        or not isinstance(document.get("keys"), dict)
        or not all(isinstance(value, str) for value in document["keys"].values())
    ):
        raise KeyringError(f"{where}: not a keyring; expected {KEYRING_SHAPE}")
    keys: dict[str, bytes] = {}
    for key_id, encoded in document["keys"].items():
        try:
            keys[key_id] = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"{where}: key {key_id!r} is not base64") from None
    return document["current"], keys


def keyring_text(keys: Mapping[str, bytes], current: str) -> str:
    Keyring(keys, current)  # refuse to write what could not be read back
    encoded = {key_id: base64.b64encode(key).decode() for key_id, key in sorted(keys.items())}
    return json.dumps({"current": current, "keys": encoded}, indent=2) + "\n"


def new_key_id(taken: frozenset[str] | set[str] = frozenset()) -> str:
    """A fresh key id: random, so keyrings of different installations never reuse one by accident."""
    while (key_id := secrets.token_hex(4)) in taken:
        pass
    return key_id


def new_keyring_text() -> str:
    """A keyring of one fresh key, current."""
    key_id = new_key_id()
    return keyring_text({key_id: secrets.token_bytes(KEY_BYTES)}, key_id)


class FixedKeyring:
    """The keyring of a setting (`OO_VAULT_KEYRING`): fixed for the process's life; an operator rotates
    by giving every process a keyring with the new key current, then running `oo vault rotate`."""

    writable = False

    def __init__(self, keyring: Keyring, where: str) -> None:
        self._keyring = keyring
        self.where = where

    def keyring(self) -> Keyring:
        return self._keyring

    def reloaded(self) -> Keyring:
        return self._keyring


class KeyringFile:
    """The keyring of a key file, owner-only. `oo vault rotate` and `oo vault retire` replace the file
    while processes may be running: each process reads it again when it changes (a `stat` per seal),
    so a running server seals under the new key from the next write, and opens what the rotation sealed.
    """

    writable = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self._signature: tuple[int, int, int] | None = None
        self._keyring = self._read()

    @classmethod
    def open_or_make(cls, path: Path) -> KeyringFile:
        """The key file at `path`, made with one fresh key if there is none (the first start)."""
        read_or_make(path, lambda: new_keyring_text().encode())
        return cls(path)

    def keyring(self) -> Keyring:
        if self._stat() != self._signature:
            self._keyring = self._read()
        return self._keyring

    def reloaded(self) -> Keyring:
        self._keyring = self._read()
        return self._keyring

    def add_current_key(self) -> str:
        """Add a fresh key and make it current; returns its id. Older keys stay, to open older values."""
        _, keys = _parse(self.path.read_text(), self.where)
        key_id = new_key_id(set(keys))
        keys[key_id] = secrets.token_bytes(KEY_BYTES)
        replace_owner_only(self.path, keyring_text(keys, key_id).encode())
        self.reloaded()
        return key_id

    def remove_key(self, key_id: str) -> None:
        """Destroy a key that is not current (the caller checks no value is still sealed under it)."""
        current, keys = _parse(self.path.read_text(), self.where)
        if key_id == current:
            raise KeyringError(f"{self.where}: key {key_id!r} is the current key")
        if key_id not in keys:
            raise KeyringError(f"{self.where}: holds no key {key_id!r}")
        del keys[key_id]
        replace_owner_only(self.path, keyring_text(keys, current).encode())
        self.reloaded()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return None
        return status.st_ino, status.st_mtime_ns, status.st_size

    def _read(self) -> Keyring:
        signature = self._stat()
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            raise KeyringError(f"{self.where}: the vault's key file is missing") from None
        keyring = parse_keyring(text, self.where)
        self._signature = signature
        return keyring
