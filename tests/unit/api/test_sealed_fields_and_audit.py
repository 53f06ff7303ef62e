"""Email and national id are stored sealed, and every read or change is in the audit log
(who, what, outcome: never the values)."""

from __future__ import annotations

from functions.api.accounts import USERS
from tests.unit.api.conftest import CLIENT_BODY, Api


def test_email_and_national_id_are_stored_sealed(api: Api) -> None:
    stored = api.platform.store.get(api.platform.settings.collection(USERS), api.users["client-a"])
    assert stored is not None
    assert "client-a@example.com" not in str(stored)
    assert "12345678" not in str(stored)
    assert stored["email_sealed"].startswith("aesgcm.v1.")
    # A sealed value copied onto another user does not open there.
    other, users = api.users["client-b"], api.platform.settings.collection(USERS)
    theirs = api.platform.store.get(users, other) or {}
    copied = {**theirs, "email_sealed": stored["email_sealed"]}
    api.platform.store.run_in_transaction(lambda tx: tx.put(users, other, copied))
    assert api.wiring.accounts.user(other) is not None
    try:
        api.wiring.accounts.profile(other)
    except Exception as error:  # FieldCipherError: bound to the user id
        assert type(error).__name__ == "FieldCipherError"
    else:
        raise AssertionError("a sealed field opened under another user")


def test_reads_changes_and_logins_are_audited(api: Api) -> None:
    token = api.login("client-a")
    accepted = api.call("POST", "/v1/subscriptions", CLIENT_BODY, token=token).body
    api.call("GET", f"/v1/subscriptions/{accepted['subscription_id']}", token=token)
    api.call("GET", "/v1/audit", token=token)  # refused: 403, audited too
    entries = api.call("GET", "/v1/audit", {}, token=api.login("operator")).body["items"]
    mine = [e for e in entries if e["user_id"] == api.users["client-a"]]
    assert {(e["action"], e["status"]) for e in mine} >= {
        ("change", 202),
        ("read", 404),
        ("read", 403),
    }
    change = next(e for e in mine if e["action"] == "change")
    assert change["resource"] == f"subscription/{accepted['subscription_id']}"
    logins = [e for e in entries if e["action"] == "login"]
    assert logins and all("client-a" not in str(e) for e in entries)
