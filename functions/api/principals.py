"""Who is calling: a user with one role, and the part of the platform that role may see.

The api's own small types, built from what the identity context answers for an access
token (functions/api/identity_doors.py); accounts live in identity, and the role and scope
are the account's, read on every request, never what the token claims."""

from __future__ import annotations

from dataclasses import dataclass

from functions.identity.messages import Role


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: Role
    # The center id, client code or expert id the user acts for ("" for an operator).
    scope: str
