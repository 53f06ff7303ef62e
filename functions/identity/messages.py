"""The identity context's public contract: the bodies of its doors' requests and answers.

`identity_commands_http` opens, rotates and revokes sessions and creates, disables and
enables users; `identity_queries_http` checks an access token (POST /tokens/verify, so the
token never sits in a URL or an access log) and answers a user's profile. A refusal answers
the shared error shape with a stable reason: 401 invalid_credentials, invalid_token,
unknown_identity; 403 wrong_password; 404 user_not_found; 429 login_throttled (with
Retry-After); 400 weak_password, missing_scope, operator_scope, invalid_scope, invalid_email,
invalid_username, account_exists, schema_violation.

No events for now: nothing outside identity needs to learn of a new or disabled account
(a disabled account's tokens are refused at the next /tokens/verify), so identity owns no
topic. `co.saludtech.identity.user.created.v1` and its kin would be the types to add.

Strings are not stripped: a password is exactly what was typed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

COMMANDS_DOOR = "identity_commands_http"
QUERIES_DOOR = "identity_queries_http"
# The header in which the api tells POST /sessions the caller's address (only the api
# invokes the doors): failed logins are throttled by it.
CLIENT_ADDRESS = "X-Client-Address"


class Role(StrEnum):
    """The role an account has; the api decides by it what a caller may reach."""

    # A health center: its uploads, its quarantine, its catalogue entries.
    CENTER = "center"
    # A data client: its subscriptions, data services and notifications.
    CLIENT = "client"
    # A domain expert: their assignments.
    EXPERT = "expert"
    # The platform's operators: sagas, dead letters, accounts.
    OPERATOR = "operator"


Text = Annotated[str, Field(min_length=1, max_length=256)]
Username = Annotated[str, Field(min_length=1, max_length=64)]
Scope = Annotated[str, Field(max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- requests ------------------------------------------------------------------------------
class Credentials(_Body):
    """POST /sessions: a username (case-insensitive) and its password, and the device token
    an earlier login of this account answered on this device, if any (failed logins of
    others then never slow this one: only this device's own)."""

    username: Username
    password: Text
    device_token: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class GoogleLogin(_Body):
    """POST /sessions/google: a Google-issued ID token of an account's linked identity."""

    id_token: Annotated[str, Field(min_length=1, max_length=4096)]


class RefreshRequest(_Body):
    """POST /sessions/refresh (spend it for a new pair) and /sessions/revoke (logout)."""

    refresh_token: Text


class NewUser(_Body):
    """POST /users: an account made by an operator (or tools/accounts.py)."""

    username: Username
    password: Text
    role: Role
    scope: Scope = ""  # the center id, client code or expert code ("" for an operator)
    email: Annotated[str, Field(min_length=1, max_length=254)]
    national_id: Annotated[str, Field(max_length=20)] = ""
    google_subject: Annotated[str, Field(max_length=128)] = ""


class PasswordChange(_Body):
    """POST /users/<user_id>/password: the caller's own password, checked before the change."""

    current_password: Text
    new_password: Text


class TokenCheck(_Body):
    """POST /tokens/verify (queries door)."""

    access_token: Annotated[str, Field(min_length=1, max_length=8192)]


# -- answers -------------------------------------------------------------------------------
class TokenPair(_Body):
    """A session's tokens (200 of every /sessions door and of a password change)."""

    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme's name, no secret
    access_token: str
    expires_in: int  # seconds
    refresh_token: str
    role: Role
    user_id: str  # whose session it is (the api audits it; it answers the rest)
    # A password login's: the token this device sends with its later logins (Credentials).
    device_token: str | None = None


class SessionRevoked(_Body):
    """200 of POST /sessions/revoke: the refresh token's account, null for an unknown token
    (nothing revoked; a logout of anything answers alike)."""

    user_id: str | None


class PrincipalView(_Body):
    """200 of POST /tokens/verify: who the access token speaks for, still now (not revoked
    early by a logout, a password change or a disabled account)."""

    user_id: str
    role: Role
    scope: str


class UserCreated(_Body):
    """201 of POST /users."""

    user_id: str
    role: Role


class UserStatus(_Body):
    """200 of POST /users/<user_id>/disable and /enable."""

    user_id: str
    disabled: bool


class CenterContact(_Body):
    """200 of GET /centers/<center_id>/contact (identity_contacts_http, notifications only):
    where a center is told about its uploads: its account's email."""

    center_id: str
    email: str


class UserProfile(_Body):
    """200 of GET /users/<user_id>: what a user sees of their own account (sealed fields
    opened)."""

    user_id: str
    username: str
    role: Role
    scope: str
    created_at: str
    email: str
    national_id: str
