"""The api's own answers: tokens, accepted commands, upload grants, the audit log, and the
page every listing answers. (What the contexts' doors answer, as the api shows it:
context_views.py.)"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from functions.api.audit import Action
from functions.api.parameters import SagaStatusName
from functions.identity.messages import Role
from shared.entrypoints.http import HttpError

Item = TypeVar("Item", bound=BaseModel)


class Page(BaseModel, Generic[Item]):
    """One page, newest first; `next_cursor` continues it (null: the last page)."""

    items: list[Item]
    next_cursor: str | None


class Tokens(BaseModel):
    """A session's tokens (identity's TokenPair without the account id, which only the
    api's audit log needs)."""

    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme, no secret
    access_token: str
    expires_in: int = Field(description="seconds")
    refresh_token: str
    role: Role
    device_token: str | None = Field(
        default=None,
        description="a password login's: send it with this device's later logins, whose "
        "failed logins by others then never slow it",
    )


class Refused(HttpError):
    """An error answered with extra headers (Retry-After, WWW-Authenticate): the guard's,
    and identity's 429 login_throttled passed on as it came."""

    def __init__(self, status: int, reason: str, detail: str, headers: dict[str, str]) -> None:
        super().__init__(status, reason, detail)
        self.headers = headers


class CommandLinks(BaseModel):
    command: str
    timeline: str
    stream: str
    subscription: str


class Accepted(BaseModel):
    """202: a command the subscriptions context accepted; follow `links.command`."""

    command_id: str
    command_type: str
    subscription_id: str
    correlation_id: str
    status: Literal["accepted"] = "accepted"
    links: CommandLinks


class SagaRetryLinks(BaseModel):
    command: str
    saga: str


class SagaRetryAccepted(BaseModel):
    """202: an operator's retry of a STUCK saga; follow `links.command`."""

    command_id: str
    command_type: str
    saga_id: str
    status: Literal["accepted"] = "accepted"
    saga_status: SagaStatusName | None
    links: SagaRetryLinks


class UploadGrant(BaseModel):
    """A signed URL that lets its holder PUT one object, of that content type, until
    `expires_at`."""

    method: Literal["PUT"] = "PUT"
    url: str
    headers: dict[str, str]
    object: str
    expires_at: str


class AuditEntry(BaseModel):
    """Who read or changed what, and what they were answered (never the values)."""

    at: str
    user_id: str
    role: str
    action: Action
    resource: str
    status: int
    correlation_id: str = ""
