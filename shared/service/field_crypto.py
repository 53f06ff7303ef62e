"""Field-level encryption of sensitive values (clinical history, national ids, emails) with
AES-256-GCM, for every context.

The key is Settings.field_encryption_key (base64 of 32 bytes, from Secret Manager in the
cloud); locally, when it is empty, a key is derived from the HMAC key with HKDF so that the
emulators need no extra secret. The record id is bound as associated data, so a ciphertext
copied onto another record does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.config import Settings

_PREFIX = "aesgcm.v1."
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
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, record_id: str) -> str:
        if not token.startswith(_PREFIX):
            raise FieldCipherError("not a field token")
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX) :])
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], record_id.encode()).decode()
        except (binascii.Error, ValueError, InvalidTag) as error:
            raise FieldCipherError("the token does not open with this key") from error
