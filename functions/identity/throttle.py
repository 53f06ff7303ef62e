"""Login throttling: failed logins slow guessing without ever locking the owner out.

The scheme is OWASP's "device cookies". What counts is failures, never attempts, and they
are counted where the outcome is known (here, after the password is checked):

- A subject is who is guessing: the (account, client address) pair, or a known device of
  the account (a valid device token for that username), which is a subject of its own
  wherever it connects from. After `per_subject` failures each further attempt of that
  subject waits an exponential backoff from its last failure (1 s, 2 s, 4 s... capped at
  `cap_seconds`) and is refused (LoginThrottled, 429 `login_throttled` with Retry-After)
  without the password being checked. A success resets the subject.
- The account: failures of subjects that are not known devices are counted per account in
  a fixed window of `window_seconds`; past `per_account` of them, every attempt without a
  known device waits the same backoff from the account's last failure. A known device
  ignores this count: only its own failures slow it, so a crowd of addresses guessing an
  account slows strangers to it, never its owner's devices.
- A device token is answered by every successful password login (a random token, stored
  only as its SHA-256, bound to the account, valid `device_seconds`); the client sends it
  back with its later logins. It grants nothing but this exemption: the password is still
  checked.

Unknown usernames are throttled alike, so a 429 tells nothing about whether an account
exists. Every document id is an HMAC (identity's lookup key) of the canonical username,
with the address or the device's digest: no document holds a username or an address.
Counters carry `expires_at`, a Timestamp for Firestore's TTL policy (infra/topology.yaml),
and one read past it is taken as no document (TTL deletes lazily).

No document is hot for the owner. A subject's document is written only by that subject,
and while it waits, it is read, never written. The account counter is SHARDS documents
per window; a failure increments one at random in a transaction of its own, so a burst
from many addresses contends on a fraction of it, and once the account is past its
threshold, attempts without a device are refused from plain reads (which never wait on
writers) and write nothing. A login with a known device never reads the account counter.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from functions.identity.usernames import canonical
from shared.domain.clock import Clock
from shared.ports.documents import Document, DocumentStore, DocumentTransaction

FAILURES, DEVICES = "identity_login_failures", "identity_login_devices"
COLLECTIONS = (FAILURES, DEVICES)
SHARDS = 4


@dataclass(frozen=True)
class ThrottlePolicy:
    per_subject: int  # failures of one subject before it waits
    per_account: int  # failures of strangers to an account, per window, before they wait
    window_seconds: int  # how long failures are remembered
    cap_seconds: int  # the longest wait
    device_seconds: int  # how long a device token is known


class LoginThrottled(Exception):
    """Too many failures: retry after `retry_after` seconds (the password was not checked)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("login throttled")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attempt:
    """One login attempt, as the throttle keys it (HMACs only)."""

    account: str
    subject: str
    device_token: str | None  # the caller's token, when it is a known device of the account


def backoff(failures: int, threshold: int, cap_seconds: int) -> int:
    """The wait after `failures` failures: none below the threshold, then 1, 2, 4... s."""
    if failures < threshold:
        return 0
    return min(cap_seconds, 1 << min(failures - threshold, 30))


@dataclass
class LoginThrottle:
    store: DocumentStore
    lookup_key: bytes
    clock: Clock
    collections: dict[str, str]
    policy: ThrottlePolicy

    def _key(self, kind: str, *parts: str) -> str:
        message = ":".join((kind, *parts)).encode()
        return hmac.new(self.lookup_key, message, hashlib.sha256).hexdigest()

    def attempt(self, username: str, address: str, device_token: str | None) -> Attempt:
        # The canonical form login looks up (NFKC + casefold): a full-width or other
        # variant of a username is the same account, so it must share its counter.
        account = self._key("login-account", canonical(username))
        if device_token and self._known(account, device_token):
            return Attempt(account, self._key("login-device", account, _digest(device_token)),
                           device_token)  # fmt: skip
        return Attempt(account, self._key("login-address", account, address or "unknown"), None)

    def _known(self, account: str, device_token: str) -> bool:
        found = self.store.get(self.collections[DEVICES], _digest(device_token))
        return found is not None and found["account"] == account and self._live(found)

    def _live(self, document: Document | None) -> bool:
        return document is not None and document["expires_at"] > self.clock()

    # -- before the password -------------------------------------------------------------
    def check(self, attempt: Attempt) -> None:
        """LoginThrottled when the subject, or (without a known device) the account, must
        still wait."""
        policy = self.policy
        subject = self.store.get(self.collections[FAILURES], attempt.subject)
        waits = [self._wait(subject, policy.per_subject)]
        if attempt.device_token is None:
            waits.append(self._wait(self._account_total(attempt.account), policy.per_account))
        longest = max(waits)
        if longest > 0:
            raise LoginThrottled(longest)

    def _wait(self, counter: Document | None, threshold: int) -> int:
        """Seconds left to wait (0: none) for a counter {failures, last_failure}."""
        if not self._live(counter):
            return 0
        assert counter is not None
        seconds = backoff(int(counter["failures"]), threshold, self.policy.cap_seconds)
        last: datetime = counter["last_failure"]
        left = (last + timedelta(seconds=seconds) - self.clock()).total_seconds()
        return max(0, math.ceil(left))

    def _account_total(self, account: str) -> Document | None:
        shards = [self.store.get(self.collections[FAILURES], key) for key in self._shards(account)]
        live = [shard for shard in shards if shard is not None and self._live(shard)]
        if not live:
            return None
        return {
            "failures": sum(int(shard["failures"]) for shard in live),
            "last_failure": max(shard["last_failure"] for shard in live),
            "expires_at": max(shard["expires_at"] for shard in live),
        }

    def _window(self) -> tuple[int, datetime]:
        """The account counter's window now, and when its shards expire (a window after)."""
        seconds = self.policy.window_seconds
        now = self.clock()
        window = math.floor(now.timestamp() / seconds)
        return window, datetime.fromtimestamp((window + 2) * seconds, tz=now.tzinfo)

    def _shards(self, account: str) -> list[str]:
        window, _ = self._window()
        return [
            self._key("login-account-window", account, str(window), str(n)) for n in range(SHARDS)
        ]

    # -- after the password --------------------------------------------------------------
    def failed(self, attempt: Attempt) -> None:
        """Count a wrong password (or unknown username) against the subject and, unless it
        is a known device, against the account."""
        now = self.clock()
        remember = now + timedelta(seconds=self.policy.window_seconds)
        self._count(attempt.subject, now, remember)
        if attempt.device_token is None:
            _, expires = self._window()
            self._count(random.choice(self._shards(attempt.account)), now, expires)

    def _count(self, key: str, now: datetime, expires_at: datetime) -> None:
        collection = self.collections[FAILURES]

        def add(tx: DocumentTransaction) -> None:
            found = tx.get(collection, key)
            failures = int(found["failures"]) if found is not None and self._live(found) else 0
            record: dict[str, Any] = {
                "failures": failures + 1, "last_failure": now, "expires_at": expires_at,
            }  # fmt: skip
            tx.put(collection, key, record)

        self.store.run_in_transaction(add)

    def succeeded(self, attempt: Attempt) -> str:
        """Reset the subject; the device token to answer (the caller's, or a new one)."""
        collection = self.collections[FAILURES]

        def reset(tx: DocumentTransaction) -> None:
            found = tx.get(collection, attempt.subject)
            if found is not None and int(found["failures"]) > 0:
                tx.put(collection, attempt.subject, {**found, "failures": 0})

        self.store.run_in_transaction(reset)
        if attempt.device_token is not None:
            return attempt.device_token
        token = secrets.token_urlsafe(32)
        expires = self.clock() + timedelta(seconds=self.policy.device_seconds)
        record = {"account": attempt.account, "expires_at": expires}
        self.store.run_in_transaction(
            lambda tx: tx.create(self.collections[DEVICES], _digest(token), record)
        )
        return token


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
