"""Password hashing with argon2id (argon2-cffi; RFC 9106's second recommended setting by
default: 3 passes over 64 MiB). The cost comes from settings, so unit tests can make it
cheap; a hash records its own parameters, so raising the cost later keeps old hashes valid.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Passwords:
    """ports.PasswordHasher with argon2id."""

    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        # Verified against when the account does not exist, so a wrong username costs as
        # long as a wrong password and the timing tells nobody which usernames exist.
        self._absent = self._hasher.hash("no account has this password")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            matches = self._hasher.verify(stored_hash or self._absent, password)
        except (VerificationError, InvalidHashError):
            return False
        return matches and stored_hash is not None
