"""tools/accounts.py: the first operator (and any account) made without the API, written
into the identity context exactly as its doors write one: identity then logs it in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from functions import bootstrap
from functions.identity import wiring
from functions.identity.messages import Role
from tools.accounts import app

PASSWORD = "a long enough passphrase"


@pytest.fixture(autouse=True)
def in_memory() -> Iterator[None]:
    bootstrap.use(bootstrap.in_memory_platform())
    yield
    bootstrap.use(None)


def create(*options: str, password: str = PASSWORD) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["create", *options, "--password-stdin"], input=password)
    return result.exit_code, result.stdout, result.stderr


def test_an_operator_made_by_the_tool_logs_in_and_its_password_is_never_printed() -> None:
    code, out, err = create("--role", "operator", "--username", "ops", "--email", "o@example.com")
    assert code == 0, err
    accounts = bootstrap.context(wiring.build).accounts
    principal = accounts.check_password("OPS", PASSWORD)
    assert principal is not None and principal.role is Role.OPERATOR
    assert principal.user_id == out.strip()
    assert PASSWORD not in out + err
    assert accounts.check_password("ops", "another passphrase!") is None


@pytest.mark.parametrize(
    ("options", "password", "reason"),
    [
        (["--role", "client", "--username", "c1", "--email", "c@example.com"], PASSWORD,
         "missing_scope"),
        (["--role", "client", "--scope", "0001", "--username", "c1", "--email", "c@example.com"],
         "short", "weak_password"),
    ],
)  # fmt: skip
def test_a_refused_account_says_why_and_exits_1(
    options: list[str], password: str, reason: str
) -> None:
    code, _, err = create(*options, password=password)
    assert code == 1 and reason in err
    assert password not in err


def test_a_taken_username_is_refused() -> None:
    options = [
        "--role",
        "center",
        "--scope",
        "hospital-1",
        "--username",
        "h01",  # usernames are 3 to 64 characters (functions/identity/usernames.py)
        "--email",
        "h@x.org",
    ]
    assert create(*options)[0] == 0
    code, _, err = create(*options)
    assert code == 1 and "account_exists" in err
