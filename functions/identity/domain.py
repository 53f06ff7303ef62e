"""Who a user is and the rules an account keeps: pure Python, no I/O.

An account has one role and acts for one scope. Its `token_version` revokes access tokens
early: every token carries the version it was issued under, and a logout, a password change
or an operator disabling the account raises the stored one, so older tokens stop working
at their next check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from functions.identity.messages import Role
from shared.domain.errors import PermanentError

MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH = 12, 256


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

    def validate(self) -> None:
        ensure_password_allowed(self.password, "password")
        if self.role is not Role.OPERATOR and not self.scope:
            raise PermanentError("missing_scope", "this role acts for a scope", field="scope")


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
