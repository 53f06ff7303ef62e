"""Who is calling: a user with one role, and the part of the platform that role may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    # A health center: its uploads, its quarantine, its catalogue entries.
    CENTER = "center"
    # A data client: its subscriptions, data services and notifications.
    CLIENT = "client"
    # A domain expert: their assignments.
    EXPERT = "expert"
    # The platform's operators: sagas and dead letters.
    OPERATOR = "operator"


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: Role
    # The center id, client code or expert id the user acts for ("" for an operator).
    scope: str
    # The account's token version when the access token was issued: a logout, a password
    # change or an operator disabling the account raises it, and older tokens stop working.
    token_version: int = field(default=0, compare=False)
