"""`python -m tools.accounts create`: make an account without the API (an operator's tool of
the identity context, which owns accounts).

The first operator cannot be created through `/v1/users` (only an operator may call it), so
an operator with access to the project's Firestore runs this once, and creates the other
accounts through the API afterwards (or here, e.g. for the local stack):

    eval "$(.venv/bin/python -m infra.local env)"          # locally: the emulators
    .venv/bin/python -m tools.accounts create --role operator --username ops --email ops@example.com
    .venv/bin/python -m tools.accounts create --role client --scope 0001 --username pperez \\
        --email pperez@example.com

In the cloud it runs with Application Default Credentials and the same SALUDTECH_*
settings as the identity functions (project, collection prefix, field encryption and lookup
keys from Secret Manager), since the account is written into identity's database
(`saludtech-identity`) exactly as identity writes one (functions/identity/accounts.py:
argon2id hash, sealed email and national id). The password is
read from a prompt, or from standard input with --password-stdin; it is never an argument
(shell history) and never printed.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from functions import bootstrap
from functions.identity import wiring
from functions.identity.domain import NewAccount
from functions.identity.messages import Role
from shared.domain.errors import PermanentError

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


@app.callback()
def main() -> None:
    """Accounts of the identity context (who may use the public API)."""


@app.command()
def create(  # typer passes options by keyword
    *,
    role: Annotated[Role, typer.Option(help="What the account may see.")],
    username: Annotated[
        str, typer.Option(help="The login name: 3-64 letters of one script, digits, . _ -.")
    ],
    email: Annotated[str, typer.Option(help="Where the account is told things.")],
    scope: Annotated[
        str,
        typer.Option(help="The client code, center id or expert code it acts for (no operator)."),
    ] = "",
    national_id: Annotated[str, typer.Option(help="Stored sealed; optional.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create one account; prints its user id."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    accounts = bootstrap.context(wiring.build).accounts
    try:
        user_id = accounts.register(
            NewAccount(username, password, role, scope, email, national_id=national_id)
        )
    except PermanentError as refused:
        typer.echo(f"refused: {refused.reason}: {refused.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(user_id)


if __name__ == "__main__":
    app()
