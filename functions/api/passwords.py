"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106's second choice)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# Verified against when the account does not exist, so a wrong username costs as long as a
# wrong password and the timing tells nobody which usernames exist.
_ABSENT = _HASHER.hash("no account has this password")

MIN_LENGTH, MAX_LENGTH = 12, 256


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash or _ABSENT, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False
