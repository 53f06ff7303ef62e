"""Who a user is and the rules an account keeps: pure Python, no I/O.

An account has one role and acts for one scope. Its `token_version` revokes access tokens
early: every token carries the version it was issued under, and a logout, a password change
or an operator disabling the account raises the stored one, so older tokens stop working
at their next check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from functions.identity.messages import Role
from functions.identity.usernames import canonical, ensure_username_allowed
from shared.domain.emails import is_email
from shared.domain.errors import PermanentError

MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH = 12, 256
# What a scope names: a center id (the first folder of its uploads, ingestion's rule), a
# client code or an expert code (subscriptions' and data services' `_CODE`). Every one is a
# document id of the rest of the system (shared/ports/documents.py is_document_id): no `/`,
# no blanks or control characters, never `.` or `..` alone, at most 64 characters.
_SCOPE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: Role
    # The center id, client code or expert id the user acts for ("" for an operator).
    scope: str
    # The account's token version when the access token was issued (module docstring).
    token_version: int = field(default=0, compare=False)


class InvalidToken(Exception):
    """Missing, malformed, forged, expired, wrong audience or issuer: all look alike outside."""


def ensure_password_allowed(password: str, field_name: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise PermanentError(
            "weak_password",
            f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            field=field_name,
        )


@dataclass(frozen=True)
class NewAccount:
    username: str
    password: str
    role: Role
    scope: str
    email: str
    national_id: str = ""
    google_subject: str = ""

    @property
    def canonical_username(self) -> str:
        """The form the username is stored and looked up in (usernames.py)."""
        return canonical(self.username)

    def validate(self) -> None:
        """PermanentError naming the first rule broken, each with its own reason and field."""
        ensure_password_allowed(self.password, "password")
        if self.role is Role.OPERATOR:
            if self.scope:
                # An operator acts for the whole platform: a scope would mean nothing, or,
                # read by a route that matches scopes, something it was never granted.
                raise PermanentError("operator_scope", "an operator has no scope", field="scope")
        elif not self.scope:
            raise PermanentError("missing_scope", "this role acts for a scope", field="scope")
        elif not _SCOPE.fullmatch(self.scope) or _is_reserved(self.scope):
            raise PermanentError(
                "invalid_scope", "1-64 letters, digits, _ - or . (not first)", field="scope"
            )
        if not is_email(self.email):
            raise PermanentError("invalid_email", "not an email address", field="email")
        ensure_username_allowed(self.username)


def _is_reserved(scope: str) -> bool:
    """Firestore's reserved ids (`__x__`), which a scope may be the id of."""
    return scope.startswith("__") and scope.endswith("__")


@dataclass(frozen=True)
class Account:
    """An account as the rules see it (no password hash, no sealed fields)."""

    user_id: str
    role: Role
    scope: str
    token_version: int
    disabled: bool

    @property
    def principal(self) -> Principal:
        return Principal(self.user_id, self.role, self.scope, self.token_version)

    def may_log_in(self) -> bool:
        return not self.disabled

    def is_current(self, principal: Principal) -> bool:
        """Whether an access token of `principal` still stands: same account, not disabled,
        issued under the current token version."""
        return (
            principal.user_id == self.user_id
            and not self.disabled
            and principal.token_version == self.token_version
        )
