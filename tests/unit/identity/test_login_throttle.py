"""Failed logins are throttled per account and address (or known device) with a growing
backoff, and per account for strangers only: nobody can lock the owner out
(functions/identity/throttle.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.test import TestResponse

from functions.identity.adapters.argon2_passwords import Argon2Passwords
from functions.identity.throttle import COLLECTIONS, backoff
from tests.unit.identity.conftest import PASSWORD, Identity, make_identity, reason

WRONG = "not the password at all"


def _log_in(
    identity: Identity, address: str, password: str = WRONG, username: str = "client-a",
    device_token: str | None = None,
) -> TestResponse:  # fmt: skip
    body: dict[str, Any] = {"username": username, "password": password}
    if device_token is not None:
        body["device_token"] = device_token
    return identity.commands.post("/sessions", json=body, headers={"X-Client-Address": address})


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password argon2 verifies."""
    seen: list[str] = []
    verify = Argon2Passwords.verify

    def counting(self: Argon2Passwords, stored_hash: str | None, password: str) -> bool:
        seen.append(password)
        return verify(self, stored_hash, password)

    monkeypatch.setattr(Argon2Passwords, "verify", counting)
    return seen


@pytest.fixture
def few() -> Iterator[Identity]:
    """Thresholds small enough to cross in a test: 5 per address, 8 per account."""
    yield from make_identity(identity_login_failures_per_account=8)


def test_backoff_doubles_from_the_threshold_up_to_the_cap() -> None:
    assert [backoff(n, 5, 900) for n in (0, 4, 5, 6, 7, 14, 15, 100)] == [
        0, 0, 1, 2, 4, 512, 900, 900,
    ]  # fmt: skip


def test_an_address_waits_longer_after_each_failure_and_its_password_is_not_checked(
    identity: Identity, checked: list[str]
) -> None:
    assert [_log_in(identity, "192.0.2.1").status_code for _ in range(5)] == [401] * 5
    waits = []
    for _ in range(4):
        refused = _log_in(identity, "192.0.2.1", PASSWORD)
        assert reason(refused) == (429, "login_throttled")
        waits.append(int(refused.headers["Retry-After"]))
        identity.clock.advance(waits[-1] - 0.5)
        assert _log_in(identity, "192.0.2.1").status_code == 429  # not yet
        identity.clock.advance(0.5)
        assert _log_in(identity, "192.0.2.1").status_code == 401  # tried, and counted
    assert waits == [1, 2, 4, 8]
    assert PASSWORD not in checked  # every right password sent while throttled: unchecked
    assert len(checked) == 9  # the wrong ones tried when the clock allowed


def test_a_success_resets_its_address_and_others_are_not_slowed(identity: Identity) -> None:
    for _ in range(5):
        _log_in(identity, "192.0.2.1")
    assert _log_in(identity, "192.0.2.2", PASSWORD).status_code == 200  # another address
    identity.clock.advance(1)
    assert _log_in(identity, "192.0.2.1", PASSWORD).status_code == 200
    assert [_log_in(identity, "192.0.2.1").status_code for _ in range(5)] == [401] * 5


def test_unknown_usernames_are_throttled_alike(identity: Identity) -> None:
    for username in ("client-a", "nobody-here"):
        statuses = [_log_in(identity, "192.0.2.9", username=username).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]


def test_failures_from_many_addresses_slow_strangers_never_a_known_device(few: Identity) -> None:
    device = few.tokens("client-a")["device_token"]
    assert device
    for n in range(8):  # 8 addresses, 1 failure each: the account's threshold
        assert _log_in(few, f"192.0.2.{n}").status_code == 401
    for n in range(30):
        assert (
            _log_in(few, f"198.51.100.{n}").status_code == 429
        )  # nothing counted, nothing checked
    stranger = _log_in(few, "203.0.113.5", PASSWORD)
    assert reason(stranger) == (429, "login_throttled")
    known = _log_in(few, "203.0.113.5", PASSWORD, device_token=device)
    assert known.status_code == 200
    assert known.get_json()["device_token"] == device
    few.clock.advance(int(stranger.headers["Retry-After"]))
    assert _log_in(few, "203.0.113.5", PASSWORD).status_code == 200  # slowed, not locked


def test_a_device_counts_only_its_own_failures(few: Identity) -> None:
    device = few.tokens("client-a")["device_token"]
    other = few.tokens("center-a")["device_token"]
    for n in range(8):
        _log_in(few, f"192.0.2.{n}")
    # Another account's token is no known device of this one: a stranger.
    assert _log_in(few, "203.0.113.5", PASSWORD, device_token=other).status_code == 429
    assert _log_in(few, "203.0.113.5", PASSWORD, device_token="made-up").status_code == 429
    statuses = [_log_in(few, "192.0.2.0", device_token=device).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]  # its own threshold, from an attacker's address too
    few.clock.advance(1)
    assert _log_in(few, "192.0.2.0", PASSWORD, device_token=device).status_code == 200


def test_a_device_token_expires(identity: Identity) -> None:
    device = identity.tokens("client-a")["device_token"]
    identity.clock.advance(identity.platform.settings.identity_device_token_seconds + 1)
    fresh = _log_in(identity, "192.0.2.1", PASSWORD, device_token=device).get_json()
    assert fresh["device_token"] != device  # an unknown device: given a new token


def test_failures_are_forgotten_after_the_window(identity: Identity) -> None:
    for _ in range(6):
        _log_in(identity, "192.0.2.1")
    identity.clock.advance(identity.platform.settings.identity_login_window_seconds)
    assert [_log_in(identity, "192.0.2.1").status_code for _ in range(5)] == [401] * 5


def test_the_stored_documents_hold_no_username_address_or_device_token(few: Identity) -> None:
    device = few.tokens("client-a")["device_token"]
    for n in range(12):
        _log_in(few, f"192.0.2.{n}")
        _log_in(few, "192.0.2.77", device_token=device)
    stored = {
        key: data
        for (collection, key), (_, data) in few.platform.store._docs.items()
        if collection in COLLECTIONS
    }
    assert {collection for (collection, _) in few.platform.store._docs} >= set(COLLECTIONS)
    text = str(stored).lower()
    for secret in ("client-a", "192.0.2", device):
        assert secret.lower() not in text


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def test_variants_of_a_username_share_its_counter(identity: Identity) -> None:
    """Login looks up the canonical form (NFKC + casefold), so a full-width or upper-case
    spelling is the same account: it must not get a fresh counter of its own."""
    for typed in ("client-a", "CLIENT-A", _full_width("client-a"), "Client-A", "cLiEnT-a"):
        assert _log_in(identity, "192.0.2.9", username=typed).status_code == 401
    refused = _log_in(identity, "192.0.2.9", PASSWORD, username=_full_width("CLIENT") + "-a")
    assert reason(refused) == (429, "login_throttled")
