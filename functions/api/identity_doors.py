"""The api's side of the identity context: what it asks identity's two doors, typed by
identity's messages. Accounts, passwords, sessions and the token keys are identity's; the
api holds none of them.

A refusal of identity (401 invalid_credentials, 403 wrong_password, 404 user_not_found, 400
weak_password, 429 login_throttled with its Retry-After...) is answered by the api as it
came: the same status, reason, detail and field. A door that does not answer raises
DoorUnavailable (the api answers 503).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from functions.api.answers import Refused
from functions.api.context_doors import refusal
from functions.api.principals import Principal
from functions.identity.messages import (
    CLIENT_ADDRESS,
    COMMANDS_DOOR,
    QUERIES_DOOR,
    Credentials,
    GoogleLogin,
    NewUser,
    PasswordChange,
    PrincipalView,
    RefreshRequest,
    Role,
    SessionRevoked,
    TokenCheck,
    TokenPair,
    UserCreated,
    UserProfile,
    UserStatus,
)
from shared.ports.doors import DoorAnswer, Doors


@dataclass(frozen=True)
class IdentityDoors:
    doors: Doors

    def _call(
        self,
        target: str,
        method: str,
        path: str,
        body: BaseModel | None,
        correlation_id: str,
        *,
        address: str = "",
    ) -> DoorAnswer:
        headers = {"X-Correlation-ID": correlation_id} if correlation_id else {}
        if address:
            headers[CLIENT_ADDRESS] = address
        return self.doors.call(
            target,
            method,
            path,
            body=None if body is None else body.model_dump(mode="json"),
            headers=headers or None,
        )

    def _ok(self, answer: DoorAnswer) -> Any:
        if answer.status == 429:
            # A throttled login: passed on with when to try again.
            error = refusal(answer)
            retry_after = answer.headers.get("Retry-After", "1")
            raise Refused(429, error.reason, error.detail, {"Retry-After": retry_after})
        if not answer.ok:
            raise refusal(answer)
        return answer.body

    def principal(self, access_token: str, correlation_id: str = "") -> Principal | None:
        """Who a valid, current access token speaks for, with the role and scope of the
        account as identity read it for this check (not the token's); None for any refusal
        (the caller answers 401 invalid_token): one call per authenticated request."""
        check = TokenCheck.model_construct(access_token=access_token)  # identity judges it
        answer = self._call(QUERIES_DOOR, "POST", "/tokens/verify", check, correlation_id)
        if not answer.ok:
            return None
        view = PrincipalView.model_validate(answer.body)
        return Principal(user_id=view.user_id, role=Role(view.role), scope=view.scope)

    def _pair(
        self, path: str, request: BaseModel, correlation_id: str, address: str = ""
    ) -> TokenPair:
        answer = self._call(COMMANDS_DOOR, "POST", path, request, correlation_id, address=address)
        return TokenPair.model_validate(self._ok(answer))

    def log_in(
        self, credentials: Credentials, correlation_id: str = "", address: str = ""
    ) -> TokenPair:
        """`address`: the caller's, by which identity throttles failed logins (429
        login_throttled, passed on with its Retry-After)."""
        return self._pair("/sessions", credentials, correlation_id, address)

    def log_in_with_google(self, login: GoogleLogin, correlation_id: str = "") -> TokenPair:
        return self._pair("/sessions/google", login, correlation_id)

    def refresh(self, request: RefreshRequest, correlation_id: str = "") -> TokenPair:
        return self._pair("/sessions/refresh", request, correlation_id)

    def revoke(self, request: RefreshRequest, correlation_id: str = "") -> str | None:
        """The refresh token's account (None: an unknown token, nothing revoked)."""
        answer = self._call(COMMANDS_DOOR, "POST", "/sessions/revoke", request, correlation_id)
        return SessionRevoked.model_validate(self._ok(answer)).user_id

    def change_password(
        self, user_id: str, change: PasswordChange, correlation_id: str = ""
    ) -> TokenPair:
        return self._pair(f"/users/{user_id}/password", change, correlation_id)

    def create_user(self, new: NewUser, correlation_id: str = "") -> UserCreated:
        answer = self._call(COMMANDS_DOOR, "POST", "/users", new, correlation_id)
        return UserCreated.model_validate(self._ok(answer))

    def set_disabled(self, user_id: str, disabled: bool, correlation_id: str = "") -> UserStatus:
        path = f"/users/{user_id}/{'disable' if disabled else 'enable'}"
        answer = self._call(COMMANDS_DOOR, "POST", path, None, correlation_id)
        return UserStatus.model_validate(self._ok(answer))

    def profile(self, user_id: str, correlation_id: str = "") -> UserProfile:
        answer = self._call(QUERIES_DOOR, "GET", f"/users/{user_id}", None, correlation_id)
        return UserProfile.model_validate(self._ok(answer))
