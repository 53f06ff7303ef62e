"""The field cipher moved to shared/service/field_crypto.py (the api encrypts with it too)."""

from shared.service.field_crypto import FieldCipher, FieldCipherError

__all__ = ["FieldCipher", "FieldCipherError"]
