"""Where accounts and their sessions are stored: identity's own collections, in its own
database (`saludtech-identity`).

The email and national id are sealed with the shared field cipher (AES-GCM, bound to the
user id and the field name); usernames are found through an HMAC of their lowercase form,
so the lookup documents hold no username. Refresh tokens are random, stored only as their
SHA-256, and revocable one by one.

Access tokens are revoked early through the account's `token_version` (domain.py): a
logout, a password change or an operator disabling the account raises it, and every
/tokens/verify compares it with the token's (one document read). A password change and a
disabling also revoke every refresh token of the account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from functions.identity.domain import (
    Account,
    NewAccount,
    Principal,
    ensure_password_allowed,
)
from functions.identity.messages import Role
from functions.identity.ports import PasswordHasher
from shared.domain.clock import Clock, rfc3339
from shared.domain.errors import PermanentError
from shared.ports.documents import (
    Document,
    DocumentExists,
    DocumentStore,
    DocumentTransaction,
    Filter,
)
from shared.service.field_crypto import FieldCipher

USERS, USERNAMES, IDENTITIES, REFRESH_TOKENS = (
    "identity_users", "identity_usernames", "identity_google_subjects", "identity_refresh_tokens"
)  # fmt: skip
COLLECTIONS = (USERS, USERNAMES, IDENTITIES, REFRESH_TOKENS)
_SEALED_FIELDS = ("email", "national_id")


@dataclass
class Accounts:
    store: DocumentStore
    passwords: PasswordHasher
    cipher: FieldCipher
    lookup_key: bytes
    clock: Clock
    collections: dict[str, str]
    refresh_seconds: int

    def _key(self, kind: str, value: str) -> str:
        return hmac.new(self.lookup_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def register(self, new: NewAccount) -> str:
        """The new user's id; PermanentError when a rule is broken or the username or
        identity is taken."""
        new.validate()
        user_id = uuid.uuid4().hex
        document: Document = {
            "user_id": user_id,
            "username": new.username,
            "role": new.role.value,
            "scope": new.scope,
            "password_hash": self.passwords.hash(new.password),
            "created_at": rfc3339(self.clock()),
            "token_version": 0,
            "disabled": False,
        }
        for name in _SEALED_FIELDS:
            value = getattr(new, name)
            document[f"{name}_sealed"] = self.cipher.encrypt(value, f"{user_id}/{name}")
        username_key = self._key("username", new.username.lower())
        identity_key = self._key("google", new.google_subject) if new.google_subject else ""

        def write(tx: DocumentTransaction) -> None:
            tx.create(self.collections[USERNAMES], username_key, {"user_id": user_id})
            if identity_key:
                tx.create(self.collections[IDENTITIES], identity_key, {"user_id": user_id})
            tx.create(self.collections[USERS], user_id, document)

        try:
            self.store.run_in_transaction(write)
        except DocumentExists as error:
            raise PermanentError("account_exists", "that username or identity is taken") from error
        return user_id

    def user(self, user_id: str) -> Document | None:
        return self.store.get(self.collections[USERS], user_id)

    def account(self, user_id: str) -> Account | None:
        found = self.user(user_id)
        return account_of(found) if found else None

    def profile(self, user_id: str) -> dict[str, Any] | None:
        """What a user sees of their own account (the sealed fields opened)."""
        found = self.user(user_id)
        if found is None:
            return None
        view = {k: found[k] for k in ("user_id", "username", "role", "scope", "created_at")}
        for name in _SEALED_FIELDS:
            sealed = found.get(f"{name}_sealed", "")
            view[name] = self.cipher.decrypt(sealed, f"{user_id}/{name}") if sealed else ""
        return view

    def center_contact(self, center_id: str) -> dict[str, Any] | None:
        """A center's email: that of its oldest account still enabled (the one the center
        was opened with), for notifications only; None when it has none."""
        found = self.store.query(
            self.collections[USERS],
            [Filter("role", "==", Role.CENTER.value), Filter("scope", "==", center_id)],
            limit=50,
        ).items
        live = sorted(
            (d for _, d in found if not d.get("disabled") and d.get("email_sealed")),
            key=lambda d: (str(d.get("created_at")), str(d.get("user_id"))),
        )
        if not live:
            return None
        first = live[0]
        email = self.cipher.decrypt(first["email_sealed"], f"{first['user_id']}/email")
        return {"center_id": center_id, "email": email}

    def check_password(self, username: str, password: str) -> Principal | None:
        found = self.store.get(self.collections[USERNAMES], self._key("username", username.lower()))
        user = self.user(found["user_id"]) if found else None
        if not self.passwords.verify(user["password_hash"] if user else None, password):
            return None
        assert user is not None  # verify is False without a stored hash
        account = account_of(user)
        return account.principal if account.may_log_in() else None

    def by_google_subject(self, subject: str) -> Principal | None:
        found = self.store.get(self.collections[IDENTITIES], self._key("google", subject))
        account = self.account(found["user_id"]) if found else None
        return account.principal if account and account.may_log_in() else None

    # -- early revocation of access tokens ---------------------------------------------
    def is_current(self, principal: Principal) -> bool:
        """Whether an access token of this principal still stands (domain.Account)."""
        account = self.account(principal.user_id)
        return account is not None and account.is_current(principal)

    def _bump(self, user_id: str, **changes: Any) -> Document | None:
        """Raise the account's token version (with `changes`); the account, or None."""

        def write(tx: DocumentTransaction) -> Document | None:
            user = tx.get(self.collections[USERS], user_id)
            if user is None:
                return None
            changed = {**user, **changes, "token_version": int(user.get("token_version", 0)) + 1}
            tx.put(self.collections[USERS], user_id, changed)
            return changed

        return self.store.run_in_transaction(write)

    def revoke_access(self, user_id: str) -> bool:
        """Every live access token of the account stops working now."""
        return self._bump(user_id) is not None

    def change_password(self, user_id: str, current: str, new: str) -> Principal | None:
        """The principal under the new token version, or None when `current` is wrong (or
        there is no such account). Every access and refresh token issued before stops
        working."""
        ensure_password_allowed(new, "new_password")
        user = self.user(user_id)
        if user is None or not self.passwords.verify(user["password_hash"], current):
            return None
        changed = self._bump(user_id, password_hash=self.passwords.hash(new))
        if changed is None:
            return None
        self._revoke_sessions_of(user_id)
        return account_of(changed).principal

    def set_disabled(self, user_id: str, disabled: bool) -> bool:
        """Disable (every token of the account revoked, no login) or enable an account;
        False when there is no such account."""
        if self._bump(user_id, disabled=disabled) is None:
            return False
        if disabled:
            self._revoke_sessions_of(user_id)
        return True

    # -- refresh tokens ----------------------------------------------------------------
    def open_session(self, principal: Principal) -> str:
        token = secrets.token_urlsafe(32)
        expires = self.clock() + timedelta(seconds=self.refresh_seconds)
        record = {"user_id": principal.user_id, "expires_at": rfc3339(expires), "revoked": False}
        self.store.run_in_transaction(
            lambda tx: tx.create(self.collections[REFRESH_TOKENS], _digest(token), record)
        )
        return token

    def rotate_session(self, token: str) -> tuple[Principal, str] | None:
        """Spend a refresh token: the principal and a new token, or None (unknown, expired,
        revoked). A token is used once; presenting a spent one again revokes nothing more
        but fails, so a stolen copy races its owner at most once."""
        now = self.clock()

        def spend(tx: DocumentTransaction) -> str | None:
            key = _digest(token)
            record = tx.get(self.collections[REFRESH_TOKENS], key)
            if record is None or record["revoked"] or record["expires_at"] <= rfc3339(now):
                return None
            tx.put(self.collections[REFRESH_TOKENS], key, {**record, "revoked": True})
            return str(record["user_id"])

        user_id = self.store.run_in_transaction(spend)
        account = self.account(user_id) if user_id else None
        if account is None or not account.may_log_in():
            return None
        return account.principal, self.open_session(account.principal)

    def revoke_session(self, token: str) -> str | None:
        """Revoke a refresh token; the id of its account, or None for an unknown token."""
        key = _digest(token)

        def revoke(tx: DocumentTransaction) -> str | None:
            record = tx.get(self.collections[REFRESH_TOKENS], key)
            if record is None:
                return None
            tx.put(self.collections[REFRESH_TOKENS], key, {**record, "revoked": True})
            return str(record["user_id"])

        return self.store.run_in_transaction(revoke)

    def _revoke_sessions_of(self, user_id: str) -> None:
        """Revoke every refresh token of an account (rare: a password change, a disabling)."""
        collection = self.collections[REFRESH_TOKENS]
        after = None
        while True:
            page = self.store.query(
                collection, [Filter("user_id", "==", user_id)], limit=100, after=after
            )
            live = [(key, record) for key, record in page.items if not record["revoked"]]

            def revoke(tx: DocumentTransaction, live: Any = live) -> None:
                for key, record in live:
                    tx.put(collection, key, {**record, "revoked": True})

            if live:
                self.store.run_in_transaction(revoke)
            if page.next_cursor is None:
                return
            after = page.next_cursor


def account_of(user: Document) -> Account:
    return Account(
        user_id=user["user_id"],
        role=Role(user["role"]),
        scope=user["scope"],
        token_version=int(user.get("token_version", 0)),
        disabled=bool(user.get("disabled")),
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
