"""The token vault itself: AES-256-GCM envelopes with a key id, bound to their place; its keyrings.

reference/security.md E02 (a changed bit is refused), E03 (a ciphertext moved to another row or
column is refused), E04 (every ciphertext names its key), E06 (no nonce repeats under a key).
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from services.kernel.keyring import FixedKeyring, KeyringFile, keyring_text, parse_keyring
from services.kernel.vault import (
    NONCE_BYTES,
    Keyring,
    KeyringError,
    Place,
    SealedValueRefused,
    TokenVault,
    key_id_of,
)
from services.settings import ConfigurationError, load_settings

ENVELOPE = re.compile(r"v1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+)")
HERE = Place("integrations_connections", ("usr_a", "todoist"), "access_token_sealed")


def vault_of(**keys: bytes) -> TokenVault:
    current = next(iter(keys))
    return TokenVault(FixedKeyring(Keyring(keys, current), "test"))


def body_of(envelope: str) -> bytes:
    encoded = ENVELOPE.fullmatch(envelope).group(2)  # type: ignore[union-attr]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def with_body(envelope: str, body: bytes) -> str:
    header = envelope.rsplit(".", 1)[0]
    return f"{header}.{base64.urlsafe_b64encode(body).rstrip(b'=').decode()}"


@examples(max_examples=200, deadline=None)
@given(
    plaintext=st.text(),
    row=st.tuples(st.text(min_size=1), st.text(min_size=1)),
    column=st.sampled_from(["access_token_sealed", "refresh_token_sealed"]),
)
def test_what_is_sealed_opens_to_itself_in_its_place(plaintext, row, column):
    vault = vault_of(k1=os.urandom(32))
    place = Place("integrations_connections", row, column)
    sealed = vault.seal(plaintext, place)
    assert vault.open(sealed, place) == plaintext


def test_every_envelope_names_its_key():
    vault = vault_of(k1=os.urandom(32), k0=os.urandom(32))
    sealed = vault.seal("a token", HERE)
    assert ENVELOPE.fullmatch(sealed)
    assert key_id_of(sealed) == "k1"


def test_every_changed_bit_is_refused_never_a_wrong_plaintext():
    vault = vault_of(k1=os.urandom(32))
    sealed = vault.seal("tok_0123456789abcdef", HERE)
    body = body_of(sealed)
    for bit in range(len(body) * 8):  # nonce, ciphertext and tag, one bit at a time
        changed = bytearray(body)
        changed[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(SealedValueRefused):
            vault.open(with_body(sealed, bytes(changed)), HERE)
    for index in range(len(sealed)):  # and every character of the text, header included
        for other in {"A", "b", "-", "."} - {sealed[index]}:
            with pytest.raises(SealedValueRefused):
                vault.open(sealed[:index] + other + sealed[index + 1 :], HERE)
    with pytest.raises(SealedValueRefused):
        vault.open(with_body(sealed, body[:-1]), HERE)


@pytest.mark.parametrize(
    "elsewhere",
    [
        Place("integrations_connections", ("usr_b", "todoist"), "access_token_sealed"),  # another person's row
        Place("integrations_connections", ("usr_a", "calendar"), "access_token_sealed"),  # another provider's
        Place("integrations_connections", ("usr_a", "todoist"), "refresh_token_sealed"),  # another column
        Place("notifier_vapid", ("usr_a", "todoist"), "access_token_sealed"),  # another table
        Place("integrations_connections", ("usr_at", "odoist"), "access_token_sealed"),  # same letters, split anew
    ],
)
def test_a_ciphertext_moved_to_another_place_is_refused(elsewhere):
    vault = vault_of(k1=os.urandom(32))
    with pytest.raises(SealedValueRefused, match="moved from another row or column"):
        vault.open(vault.seal("a token", HERE), elsewhere)


def test_a_nonce_never_repeats_under_a_key():
    vault = vault_of(k1=os.urandom(32))
    seen: set[tuple[str, bytes]] = set()
    for _ in range(100_000):
        sealed = vault.seal("t", HERE)
        pair = (key_id_of(sealed), body_of(sealed)[:NONCE_BYTES])
        assert pair not in seen
        seen.add(pair)
    assert len(seen) == 100_000


def test_a_key_missing_from_the_keyring_is_refused_by_name():
    old = vault_of(k1=os.urandom(32))
    new = vault_of(k2=os.urandom(32))
    with pytest.raises(SealedValueRefused, match="key 'k1', which the keyring does not hold"):
        new.open(old.seal("a token", HERE), HERE)


def test_a_key_of_the_same_id_but_other_bytes_is_refused():
    with pytest.raises(SealedValueRefused):
        vault_of(k1=os.urandom(32)).open(vault_of(k1=os.urandom(32)).seal("a token", HERE), HERE)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"current": "a"}',
        '{"current": "a", "keys": {"a": 1}}',
        '{"current": "a", "keys": {"a": "%%"}}',
    ],
)
def test_a_malformed_keyring_is_named_and_never_quoted(text):
    with pytest.raises(KeyringError) as refused:
        parse_keyring(text, "OO_VAULT_KEYRING")
    assert str(refused.value).startswith("OO_VAULT_KEYRING: ")
    assert text not in str(refused.value)


def test_a_keyring_refuses_short_keys_and_a_current_key_it_lacks():
    key = base64.b64encode(os.urandom(16)).decode()
    with pytest.raises(KeyringError, match="expected 32 bytes"):
        parse_keyring(json.dumps({"current": "a", "keys": {"a": key}}), "here")
    with pytest.raises(KeyringError, match="current key 'b'"):
        parse_keyring(keyring_text({"a": os.urandom(32)}, "a").replace('"current": "a"', '"current": "b"'), "here")
    assert "a" in repr(parse_keyring(keyring_text({"a": os.urandom(32)}, "a"), "here"))


def test_a_wrong_keyring_setting_stops_start_up_without_showing_it(monkeypatch):
    secret = base64.b64encode(os.urandom(16)).decode()  # a key of the wrong size
    monkeypatch.setenv("OO_VAULT_KEYRING", json.dumps({"current": "a", "keys": {"a": secret}}))
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert "OO_VAULT_KEYRING=[secret]" in str(refused.value)
    assert secret not in str(refused.value)


def test_the_key_file_is_made_owner_only_once_and_read_again_when_it_changes(tmp_path):
    path = tmp_path / "vault-keyring.json"
    running = KeyringFile.open_or_make(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = running.keyring().current
    assert KeyringFile.open_or_make(path).keyring().current == first  # made once, then read

    sealed_before = TokenVault(running).seal("a token", HERE)
    second = KeyringFile(path).add_current_key()  # another process: `oo vault rotate`
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    vault = TokenVault(running)
    assert key_id_of(vault.seal("a token", HERE)) == second  # the running process seals under the new key
    assert vault.open(sealed_before, HERE) == "a token"

    KeyringFile(path).remove_key(first)
    with pytest.raises(SealedValueRefused, match="does not hold"):
        vault.open(sealed_before, HERE)
    with pytest.raises(KeyringError, match="is the current key"):
        KeyringFile(path).remove_key(second)
