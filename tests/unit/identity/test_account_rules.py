"""The rules a new account keeps (security finding 7): a scope the rest of the system can use
as an id, no scope for an operator, a real email address, and a username that is stored in
one canonical form and cannot pass for another account's."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from functions.identity.accounts import USERNAMES, USERS
from functions.identity.domain import NewAccount
from functions.identity.messages import Role
from functions.identity.usernames import canonical, skeleton
from shared.domain.emails import is_email
from shared.domain.errors import PermanentError
from shared.ports.documents import is_document_id
from tests.unit.identity.conftest import PASSWORD, Identity, reason

CYRILLIC_A = "\u0430"
# "copy" written in Cyrillic letters only (es, o, er, u): one script, reads as the Latin word.
CYRILLIC_COPY = "\u0441\u043e\u0440\u0443"
FULL_WIDTH_OPERATOR = "".join(chr(ord(c) - ord("A") + 0xFF21) for c in "OPERATOR")


def _new(**changes: str | Role) -> NewAccount:
    fields: dict[str, str | Role] = {"username": "new-user", "password": PASSWORD,
                                     "role": Role.CLIENT, "scope": "0001",
                                     "email": "n@example.com"}  # fmt: skip
    return NewAccount(**{**fields, **changes})  # type: ignore[arg-type]


def _register(identity: Identity, username: str, scope: str) -> str:
    """An account whose username may be outside ASCII (the fixture's email is made of it)."""
    return identity.wiring.accounts.register(
        NewAccount(username, PASSWORD, Role.CLIENT, scope, f"{scope}@example.com")
    )


def _refused(account: NewAccount) -> tuple[str, str | None]:
    with pytest.raises(PermanentError) as refused:
        account.validate()
    return refused.value.reason, refused.value.field


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"scope": "hospital-1/../hospital-2"}, "invalid_scope"),
        ({"scope": "hospital 1"}, "invalid_scope"),
        ({"scope": " 0001"}, "invalid_scope"),
        ({"scope": "0001\n"}, "invalid_scope"),
        ({"scope": "00\x0001"}, "invalid_scope"),
        ({"scope": "."}, "invalid_scope"),
        ({"scope": ".."}, "invalid_scope"),
        ({"scope": "__name__"}, "invalid_scope"),
        ({"scope": "x" * 65}, "invalid_scope"),
        ({"scope": "*"}, "invalid_scope"),
        ({"role": Role.OPERATOR, "scope": "0001"}, "operator_scope"),
        ({"email": "not-an-address"}, "invalid_email"),
        ({"email": "a@b"}, "invalid_email"),
        ({"email": "a b@example.com"}, "invalid_email"),
        ({"email": "a@example.com\n"}, "invalid_email"),
        ({"username": "ab"}, "invalid_username"),
        ({"username": "x" * 65}, "invalid_username"),
        ({"username": "new user"}, "invalid_username"),
        ({"username": "new/user"}, "invalid_username"),
        ({"username": ".hidden"}, "invalid_username"),
        ({"username": "user\u200b1"}, "invalid_username"),  # zero-width space
        ({"username": f"{CYRILLIC_A}dmin"}, "invalid_username"),  # mixed scripts
        ({"username": "admin\U0001f600"}, "invalid_username"),
    ],
)
def test_each_broken_rule_has_its_reason_and_field(
    changes: dict[str, str | Role], expected: str
) -> None:
    field = next(iter(changes.keys() - {"role"}))
    assert _refused(_new(**changes)) == (expected, field)


@pytest.mark.parametrize("scope", ["0001", "0042", "hospital-1", "EXP-9", "center.north", "_x"])
def test_the_scopes_in_use_pass_and_every_scope_is_a_document_id(scope: str) -> None:
    _new(scope=scope).validate()
    assert is_document_id(scope)


def test_an_operator_has_no_scope_and_other_roles_have_one() -> None:
    _new(role=Role.OPERATOR, scope="").validate()
    assert _refused(_new(role=Role.CENTER, scope="")) == ("missing_scope", "scope")


def test_usernames_are_canonical_nfkc_then_casefold() -> None:
    assert canonical(FULL_WIDTH_OPERATOR) == "operator"
    assert (
        canonical("Jos\u00e9.P\u00e9rez")
        == canonical("JOSE\u0301.PE\u0301REZ")
        == ("jos\u00e9.p\u00e9rez")
    )
    assert canonical("Stra\u00dfe") == "strasse"
    _new(username="Jos\u00e9.P\u00e9rez").validate()
    _new(username="\u65e5\u672c\u8a9e").validate()  # one script, not Latin: allowed
    # Every ASCII name is its own canonical form's lowercase and its own skeleton.
    assert canonical("Client-A_01.x") == "client-a_01.x" == skeleton("client-a_01.x")
    assert skeleton(CYRILLIC_COPY) == "copy"


def test_an_ascii_username_keeps_the_lookup_key_accounts_had(identity: Identity) -> None:
    """Accounts made before canonical usernames were keyed by HMAC("username:" + lower()):
    an ASCII name's canonical form is the same, so they log in with no migration."""
    key = hmac.new(
        identity.wiring.accounts.lookup_key, b"username:client-a", hashlib.sha256
    ).hexdigest()
    usernames = identity.platform.settings.collection(USERNAMES)
    found = identity.platform.store.get(usernames, key)
    assert found is not None and found["user_id"] == identity.users["client-a"]


def test_a_username_is_stored_canonical_and_logs_in_however_it_is_typed(
    identity: Identity,
) -> None:
    user_id = _register(identity, "Jos\u00e9.P\u00e9rez", "0007")
    stored = identity.platform.store.get(identity.platform.settings.collection(USERS), user_id)
    assert stored is not None and stored["username"] == "jos\u00e9.p\u00e9rez"
    for typed in ("JOSE\u0301.P\u00c9REZ", "jos\u00e9.p\u00e9rez"):
        assert identity.log_in(typed).status_code == 200, typed
    assert identity.log_in(FULL_WIDTH_OPERATOR).status_code == 200


@pytest.mark.parametrize(
    ("first", "second"), [("copy", CYRILLIC_COPY), (CYRILLIC_COPY, "copy")]
)  # fmt: skip
def test_a_look_alike_of_an_existing_username_is_taken(
    identity: Identity, first: str, second: str
) -> None:
    _register(identity, first, "0007")
    with pytest.raises(PermanentError) as taken:
        _register(identity, second, "0008")
    assert taken.value.reason == "account_exists"


def test_a_look_alike_of_an_account_made_before_skeletons_is_taken(identity: Identity) -> None:
    """Older accounts have no skeleton document: an ASCII name's login key stands for it."""
    _register(identity, "copy", "0007")
    accounts, usernames = identity.wiring.accounts, identity.platform.settings.collection(USERNAMES)
    del identity.platform.store._docs[(usernames, accounts._key("skeleton", "copy"))]
    with pytest.raises(PermanentError) as taken:
        _register(identity, CYRILLIC_COPY, "0008")
    assert taken.value.reason == "account_exists"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"scope": "hospital-1/x"}, "invalid_scope"),
        ({"role": "operator", "scope": "0001"}, "operator_scope"),
        ({"email": "z@localhost"}, "invalid_email"),
        ({"username": f"exp{CYRILLIC_A}rt"}, "invalid_username"),
    ],
)
def test_the_users_door_answers_each_refusal(
    identity: Identity, changes: dict[str, str], expected: str
) -> None:
    body = {"username": "expert-z", "password": PASSWORD, "role": "expert", "scope": "EXP-9",
            "email": "z@example.com", **changes}  # fmt: skip
    answer = identity.commands.post("/users", json=body)
    assert reason(answer) == (400, expected)
    field = next(iter(changes.keys() - {"role"}))
    assert answer.get_json()["error"]["field"] == field
    assert "hospital-1/x" not in answer.get_data(as_text=True)


def test_one_email_rule_for_every_context() -> None:
    assert is_email("pperez@hospital-1.example.org")
    assert not is_email("pperez@hospital-1.example.org\n")
    assert not is_email("a" * 250 + "@x.co")
