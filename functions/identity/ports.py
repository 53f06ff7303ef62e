"""Ports of the identity context beyond the shared ones (adapters/ holds their adapters)."""

from __future__ import annotations

from typing import Any, Protocol


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no stored hash, False after as long as a real
        check takes (so the timing tells nobody which usernames exist)."""
        ...


class IdTokenVerifier(Protocol):
    def verify(self, token: str, now: float) -> dict[str, Any]:
        """The claims of a valid token (`sub` among them); domain.InvalidToken otherwise.
        `now` is epoch seconds."""
        ...
