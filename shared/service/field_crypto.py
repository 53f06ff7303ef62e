"""Field-level encryption of sensitive values (clinical history, national ids, emails) with
AES-256-GCM, for every context.

The key is Settings.field_encryption_key (base64 of 32 bytes, from Secret Manager in the
cloud); locally, when it is empty, a key is derived from the HMAC key with HKDF so that the
emulators need no extra secret. The record id is bound as associated data, so a ciphertext
copied onto another record does not decrypt.

SealedFields seals the personal fields of one kind of record the one way every context does
it; lookup_token is the keyed token a query finds a sealed value by.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.config import Settings

# Every token starts with it: a value is sealed iff it does (sealed_messages reads clear ones).
SEALED_PREFIX = "aesgcm.v1."
_NONCE = 12


class FieldCipherError(Exception):
    """A token that this key cannot open (wrong key, wrong record, or tampered)."""


class FieldCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> FieldCipher:
        configured = settings.field_encryption_key.get_secret_value().strip()
        if configured:
            try:
                key = base64.b64decode(configured, validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != 32:
                raise ValueError("SALUDTECH_FIELD_ENCRYPTION_KEY must be base64 of 32 bytes")
            return cls(key)
        if settings.environment == "cloud":
            raise ValueError("SALUDTECH_FIELD_ENCRYPTION_KEY must be set in the cloud")
        hkdf = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"saludtech field encryption"
        )
        return cls(hkdf.derive(settings.require_hmac_key().encode()))

    def encrypt(self, plaintext: str, record_id: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), record_id.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, record_id: str) -> str:
        if not token.startswith(SEALED_PREFIX):
            raise FieldCipherError("not a field token")
        try:
            raw = base64.urlsafe_b64decode(token[len(SEALED_PREFIX) :])
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], record_id.encode()).decode()
        except (binascii.Error, ValueError, InvalidTag) as error:
            raise FieldCipherError("the token does not open with this key") from error


_SEALED = "_sealed"


@dataclass(frozen=True)
class SealedFields:
    """The personal fields `names` of one kind of record, sealed at rest: each is stored as
    `<name>_sealed`, bound to the record's id and the field's name, so a sealed value copied
    onto another record or field does not open. Opening also accepts a field still in clear
    (written before it was sealed), so the functions keep serving while a migration seals
    what is stored (tools/seal_personal_fields.py)."""

    cipher: FieldCipher
    names: tuple[str, ...]

    def seal(self, record_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """`fields` with each personal one in clear replaced by its sealed form."""
        sealed = {k: v for k, v in fields.items() if k not in self.names}
        for name in self.names:
            if name in fields:
                sealed[name + _SEALED] = self.cipher.encrypt(
                    str(fields[name]), f"{record_id}/{name}"
                )
        return sealed

    def open(self, record_id: str, stored: Mapping[str, Any]) -> dict[str, Any]:
        """`stored` with each personal field in clear, and no sealed form left."""
        sealed_keys = {name + _SEALED for name in self.names}
        opened = {k: v for k, v in stored.items() if k not in sealed_keys}
        for name in self.names:
            token = stored.get(name + _SEALED)
            if token is not None:
                opened[name] = self.cipher.decrypt(token, f"{record_id}/{name}")
        return opened

    def in_clear(self, stored: Mapping[str, Any]) -> bool:
        """Whether any personal field of `stored` is still in clear (a migration's work)."""
        return any(name in stored for name in self.names)


def lookup_token(key: bytes, kind: str, value: str) -> str:
    """What a query finds a sealed `value` by: an HMAC-SHA256 of it under the lookup key
    (Settings.require_hmac_key), prefixed by its kind so that equal values of two kinds
    (an email, a username) give different tokens. Deterministic, so it is a pseudonym:
    store one only where a query or a uniqueness rule needs it."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
