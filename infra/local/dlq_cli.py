"""`saludtech-local dlq list|redrive`: the dead letters of the running stack.

list                     every dead letter: ids, type, reason, attempts, status, time
                         (never the message itself: it can hold personal data)
redrive ID               publish one again to the topic it was read from
redrive --all            publish every one still `dead` again
        --topic T        to topic T instead (e.g. after a topology change)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from infra.local.dead_letters import DEAD, DeadLetter, DeadLetterDesk, RedriveError
from infra.local.environment import temporary_environment
from infra.local.stack import DEFAULT_STATE_DIR, LocalStack

dlq_app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

StateDir = Annotated[Path, typer.Option(help="Where the running stack's stack.json lives.")]


def _desk(state_dir: Path) -> tuple[LocalStack, DeadLetterDesk]:
    try:
        stack = LocalStack.attach(state_dir)
    except FileNotFoundError:
        errors.print(f"No stack described in {state_dir / 'stack.json'}: run `up` first.")
        raise typer.Exit(1) from None
    from google.cloud import firestore

    # The client reads FIRESTORE_EMULATOR_HOST when it is built.
    def client(database: str) -> Any:
        with temporary_environment(stack.env):
            return firestore.Client(project=stack.project_id, database=database)

    desk = DeadLetterDesk(stack.project_id, stack.collection_prefix, stack.pubsub_host, client)
    return stack, desk


def _text(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


@dlq_app.command("list")
def list_dead_letters(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    status: Annotated[str | None, typer.Option(help="Only `dead` or only `redriven`.")] = None,
) -> None:
    """Show the dead letters (ids, type, reason, attempts, status, time; never the data)."""
    _, desk = _desk(state_dir)
    letters = desk.list(status)
    table = Table(title=f"dead letters · {desk.collection}")
    for column in ("dead_letter_id", "ce_id", "ce_type", "reason", "attempts", "died on",
                   "status", "redrives", "recorded_at"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for letter in letters:
        f = letter.fields
        table.add_row(
            letter.id, _text(f.get("ce_id")), _text(f.get("ce_type")), _text(f.get("reason")),
            _text(f.get("delivery_attempts")), _text(letter.source_subscription),
            letter.status, _text(f.get("redrive_count")), _text(f.get("recorded_at")),
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


@dlq_app.command()
def redrive(
    dead_letter_id: Annotated[str | None, typer.Argument(help="The one to redrive.")] = None,
    *,
    all_dead: Annotated[bool, typer.Option("--all", help="Every one still `dead`.")] = False,
    topic: Annotated[
        str | None, typer.Option(help="Publish here instead of the topic it was read from.")
    ] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Publish dead letters again (data and attributes) and mark them redriven."""
    if (dead_letter_id is None) == (not all_dead):
        errors.print("Give one dead letter id, or --all.")
        raise typer.Exit(2)
    stack, desk = _desk(state_dir)
    letters: list[DeadLetter]
    if dead_letter_id is not None:
        found = desk.get(dead_letter_id)
        if found is None:
            errors.print(f"No dead letter {dead_letter_id} in {desk.collection}.")
            raise typer.Exit(1)
        letters = [found]
    else:
        letters = desk.list(DEAD)
    failed = 0
    for letter in letters:
        try:
            destination = desk.redrive(letter, stack.topology, topic)
        except RedriveError as error:
            failed += 1
            errors.print(f"[red]{error}[/red]")
            continue
        console.print(f"redriven {letter.id} → {destination}")
    console.print(f"{len(letters) - failed} redriven, {failed} failed")
    if failed:
        raise typer.Exit(1)
