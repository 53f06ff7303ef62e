"""What each door of identity does, over its accounts, access tokens and Google's ID
tokens. A refusal the caller may learn is answered as None (or False), and the entry point
names it; a broken rule is a PermanentError (400 with its reason)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from functions.identity.access_tokens import AccessTokens
from functions.identity.accounts import Accounts
from functions.identity.domain import InvalidToken, NewAccount, Principal
from functions.identity.messages import (
    Credentials,
    GoogleLogin,
    NewUser,
    PasswordChange,
    PrincipalView,
    Role,
    TokenPair,
)
from functions.identity.ports import IdTokenVerifier
from functions.identity.throttle import LoginThrottle
from shared.domain.clock import Clock


class UnknownIdentity(Exception):
    """A valid Google ID token whose subject no (enabled) account is linked to."""


@dataclass(frozen=True)
class Identity:
    accounts: Accounts
    tokens: AccessTokens
    google: IdTokenVerifier
    clock: Clock
    throttle: LoginThrottle

    def _pair(self, who: Principal, refresh_token: str) -> TokenPair:
        return TokenPair(
            access_token=self.tokens.issue(who, self.clock()),
            expires_in=self.tokens.lifetime_seconds,
            refresh_token=refresh_token,
            role=who.role,
            user_id=who.user_id,
        )

    def _session(self, who: Principal) -> TokenPair:
        return self._pair(who, self.accounts.open_session(who))

    # -- sessions ------------------------------------------------------------------------
    def log_in(self, credentials: Credentials, address: str = "") -> TokenPair | None:
        """A session and the device's token; None for wrong credentials. LoginThrottled,
        before the password is checked, while this caller must wait (throttle.py): from
        `address`, or as the known device its `device_token` names."""
        attempt = self.throttle.attempt(credentials.username, address, credentials.device_token)
        self.throttle.check(attempt)
        who = self.accounts.check_password(credentials.username, credentials.password)
        if who is None:
            self.throttle.failed(attempt)
            return None
        device_token = self.throttle.succeeded(attempt)
        return self._session(who).model_copy(update={"device_token": device_token})

    def log_in_with_google(self, login: GoogleLogin) -> TokenPair:
        """InvalidToken for a token Google did not issue to us; UnknownIdentity when no
        account is linked to its subject."""
        claims = self.google.verify(login.id_token, self.clock().timestamp())
        who = self.accounts.by_google_subject(claims["sub"])
        if who is None:
            raise UnknownIdentity()
        return self._session(who)

    def refresh(self, refresh_token: str) -> TokenPair | None:
        rotated = self.accounts.rotate_session(refresh_token)
        return None if rotated is None else self._pair(*rotated)

    def log_out(self, refresh_token: str) -> str | None:
        """Revoke the refresh token's family (every token rotated from its login) and, early,
        every live access token of its account (its other devices refresh theirs); the
        account's id, None for an unknown token."""
        user_id = self.accounts.revoke_session(refresh_token)
        if user_id is not None:
            self.accounts.revoke_access(user_id)
        return user_id

    # -- access tokens -------------------------------------------------------------------
    def verify(self, access_token: str) -> PrincipalView | None:
        """Who a valid, current access token speaks for: the signature and claims, then one
        read of the account (revoked early by a logout, a password change, a disabling).
        The role and scope answered are the account's as read now, never the token's: a
        token names its account and token version, and grants nothing by itself."""
        try:
            subject = self.tokens.verify(access_token, self.clock())
        except InvalidToken:
            return None
        account = self.accounts.account(subject.user_id)
        if account is None:
            return None
        claimed = replace(account.principal, token_version=subject.token_version)
        if not account.is_current(claimed):
            return None
        return PrincipalView(user_id=account.user_id, role=account.role, scope=account.scope)

    # -- users ---------------------------------------------------------------------------
    def create_user(self, new: NewUser) -> str:
        return self.accounts.register(
            NewAccount(
                username=new.username,
                password=new.password,
                role=Role(new.role),
                scope=new.scope,
                email=new.email,
                national_id=new.national_id,
                google_subject=new.google_subject,
            )
        )

    def change_password(self, user_id: str, change: PasswordChange) -> TokenPair | None:
        """A new pair under the new token version (every earlier token revoked), or None
        when the current password is wrong."""
        changed = self.accounts.change_password(
            user_id, change.current_password, change.new_password
        )
        return None if changed is None else self._session(changed)

    def set_disabled(self, user_id: str, disabled: bool) -> bool:
        return self.accounts.set_disabled(user_id, disabled)
