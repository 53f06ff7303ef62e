"""Every read or change is in the audit log (who, what, outcome: never the values); so is
every login, under the account identity answered for it. (Sealed account fields:
tests/unit/identity/test_accounts.py.)"""

from __future__ import annotations

from tests.unit.api.conftest import CLIENT_BODY, Api


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
    assert f"user/{api.users['client-a']}" in {e["resource"] for e in logins}
