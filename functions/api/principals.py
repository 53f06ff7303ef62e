"""Who is calling: a user with one role, and the part of the platform that role may see.

The api's own small types, built from what the identity context answers for an access
token (functions/api/identity_doors.py); accounts live in identity."""

from __future__ import annotations

from dataclasses import dataclass
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
