"""Where accounts and their sessions are stored: identity's own collections, in its own
database (`saludtech-identity`).

The email and national id are sealed with the shared field cipher (AES-GCM, bound to the
user id and the field name); usernames are found through an HMAC of their canonical form
(usernames.py; for an ASCII name, its lowercase, as before), so the lookup documents hold no
username. A second lookup document, the HMAC of the name's skeleton, keeps two look-alike
names from both existing.

Refresh tokens are random, stored only as their SHA-256, and rotated: each is spent once for
a new one of the same `family` (a new family at each login), the OAuth 2.0 Security BCP's
rotation with reuse detection. A token presented again after it was spent means two parties
held it (its owner and a thief): its whole family is revoked and the account's token version
raised, so neither the thief's chain nor the access tokens minted along it go on working.
A record tells a token spent by rotation (`spent`) from one revoked by a logout, a password
change or a disabling (`revoked` only): only the first is a replay. Records written before
families have no `family`: their family is their own key.

Access tokens are revoked early through the account's `token_version` (domain.py): a
logout, a password change or an operator disabling the account raises it, and every
/tokens/verify compares it with the token's (one document read). A password change and a
disabling also revoke every refresh token of the account.
"""

from __future__ import annotations

import hashlib
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
from functions.identity.usernames import canonical, skeleton
from shared.domain.clock import Clock, rfc3339
from shared.domain.errors import PermanentError
from shared.ports.documents import (
    Document,
    DocumentExists,
    DocumentStore,
    DocumentTransaction,
    Filter,
)
from shared.service.field_crypto import FieldCipher, SealedFields, lookup_token

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

    @property
    def sealed(self) -> SealedFields:
        """How an account's email and national id are stored (`<name>_sealed`)."""
        return SealedFields(self.cipher, _SEALED_FIELDS)

    def _key(self, kind: str, value: str) -> str:
        return lookup_token(self.lookup_key, kind, value)

    def register(self, new: NewAccount) -> str:
        """The new user's id; PermanentError when a rule is broken or the username or
        identity is taken."""
        new.validate()
        user_id = uuid.uuid4().hex
        username = new.canonical_username
        document: Document = {
            "user_id": user_id,
            "username": username,
            "role": new.role.value,
            "scope": new.scope,
            "password_hash": self.passwords.hash(new.password),
            "created_at": rfc3339(self.clock()),
            "token_version": 0,
            "disabled": False,
        }
        document.update(self.sealed.seal(user_id, {n: getattr(new, n) for n in _SEALED_FIELDS}))
        usernames = self.collections[USERNAMES]
        username_key = self._key("username", username)
        looks_like = skeleton(username)
        # Accounts made before skeletons have none stored; an ASCII name is its own
        # skeleton, so the login key of the skeleton finds the one it would pass for.
        legacy_key = self._key("username", looks_like) if looks_like != username else ""
        identity_key = self._key("google", new.google_subject) if new.google_subject else ""

        def write(tx: DocumentTransaction) -> bool:
            if legacy_key and tx.get(usernames, legacy_key) is not None:
                return False
            tx.create(usernames, username_key, {"user_id": user_id})
            tx.create(usernames, self._key("skeleton", looks_like), {"user_id": user_id})
            if identity_key:
                tx.create(self.collections[IDENTITIES], identity_key, {"user_id": user_id})
            tx.create(self.collections[USERS], user_id, document)
            return True

        try:
            written = self.store.run_in_transaction(write)
        except DocumentExists:
            written = False
        if not written:
            raise PermanentError("account_exists", "that username or identity is taken")
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
        opened = self.sealed.open(user_id, found)
        return {**view, **{name: opened.get(name, "") for name in _SEALED_FIELDS}}

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
        return {"center_id": center_id, "email": self.sealed.open(first["user_id"], first)["email"]}

    def check_password(self, username: str, password: str) -> Principal | None:
        found = self.store.get(
            self.collections[USERNAMES], self._key("username", canonical(username))
        )
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
    def _new_token(self, tx: DocumentTransaction, user_id: str, family: str) -> str:
        token = secrets.token_urlsafe(32)
        expires = self.clock() + timedelta(seconds=self.refresh_seconds)
        record = {
            "user_id": user_id,
            "expires_at": rfc3339(expires),
            "revoked": False,
            "spent": False,
            "family": family,
        }
        tx.create(self.collections[REFRESH_TOKENS], _digest(token), record)
        return token

    def open_session(self, principal: Principal) -> str:
        """The first refresh token of a new family (a login)."""
        family = uuid.uuid4().hex
        return self.store.run_in_transaction(
            lambda tx: self._new_token(tx, principal.user_id, family)
        )

    def rotate_session(self, token: str) -> tuple[Principal, str] | None:
        """Spend a refresh token: the principal and the next token of its family, or None
        (unknown, expired, revoked, account disabled). A token spent before is a replay:
        its family is revoked and the account's token version raised (module docstring).

        The new token is written in the transaction that spends the old one, so a replay
        that loses the race to it still finds it when it revokes the family."""
        now = rfc3339(self.clock())
        tokens, key = self.collections[REFRESH_TOKENS], _digest(token)

        def spend(tx: DocumentTransaction) -> tuple[Principal, str] | _Replay | None:
            record = tx.get(tokens, key)
            if record is None:
                return None
            if record.get("spent"):
                return _Replay(str(record["user_id"]), _family_of(key, record))
            if record["revoked"] or record["expires_at"] <= now:
                return None
            user = tx.get(self.collections[USERS], str(record["user_id"]))
            account = account_of(user) if user else None
            if account is None or not account.may_log_in():
                return None
            tx.put(tokens, key, {**record, "revoked": True, "spent": True})
            return account.principal, self._new_token(tx, account.user_id, _family_of(key, record))

        spent = self.store.run_in_transaction(spend)
        if isinstance(spent, _Replay):
            self._revoke_family(spent.family)
            # Also every access token of the account, the other devices' too: which ones
            # the thief minted is not known, and the other devices only refresh (their
            # refresh tokens, of other families, stand), they are not logged out.
            self._bump(spent.user_id)
            return None
        return spent

    def revoke_session(self, token: str) -> str | None:
        """Log out: revoke the refresh token's family (every token rotated from the same
        login); the id of its account, or None for an unknown token."""
        key = _digest(token)
        record = self.store.get(self.collections[REFRESH_TOKENS], key)
        if record is None:
            return None
        self._revoke_family(_family_of(key, record))
        return str(record["user_id"])

    def _revoke_family(self, family: str) -> None:
        """Revoke every live token of a family. Passes until one finds none live: a token
        rotated from the family while a pass ran is revoked by the next."""
        collection = self.collections[REFRESH_TOKENS]
        while self._revoke_where(Filter("family", "==", family)):
            pass
        # A family started before families were recorded: its first token has no field.
        root = self.store.get(collection, family)
        if root is not None and "family" not in root and not root["revoked"]:
            self.store.run_in_transaction(
                lambda tx: tx.put(collection, family, {**root, "revoked": True})
            )

    def _revoke_sessions_of(self, user_id: str) -> None:
        """Revoke every refresh token of an account (rare: a password change, a disabling)."""
        self._revoke_where(Filter("user_id", "==", user_id))

    def _revoke_where(self, where: Filter) -> bool:
        """Revoke the live refresh tokens `where` finds; whether there were any."""
        collection = self.collections[REFRESH_TOKENS]
        after, found = None, False
        while True:
            page = self.store.query(collection, [where], limit=100, after=after)
            live = [key for key, record in page.items if not record["revoked"]]

            def revoke(tx: DocumentTransaction, live: list[str] = live) -> None:
                # Read again: a token spent since the query keeps its `spent` mark.
                records = tx.get_many([(collection, key) for key in live])
                for key, record in zip(live, records, strict=True):
                    if record is not None and not record["revoked"]:
                        tx.put(collection, key, {**record, "revoked": True})

            if live:
                found = True
                self.store.run_in_transaction(revoke)
            if page.next_cursor is None:
                return found
            after = page.next_cursor


@dataclass(frozen=True)
class _Replay:
    """A refresh token presented after it was spent: whose, and its family."""

    user_id: str
    family: str


def _family_of(key: str, record: Document) -> str:
    """A token's family: the one recorded, or, for a record written before families, its
    own key (it was the only token of its login chain that had no family)."""
    return str(record.get("family") or key)


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
