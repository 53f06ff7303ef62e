"""``saludtech-backfill``: ingest an archive (a folder or a gs:// prefix) with Apache Beam.

Locally it runs on Beam's DirectRunner with ``--workers`` processes (or threads), against
whatever the environment points at (the local stack's emulators, with its variables set).
Any other Beam option is passed through: ``--runner=DataflowRunner --project=... --region=...``
and the rest (docs/backfill.md).

Exit codes: 0 every object anonymized, unchanged or recorded already; 1 some refused,
skipped or missing (see the dead-letter output); 2 usage error.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

import google.auth
import typer
from google.auth.exceptions import DefaultCredentialsError
from rich.console import Console
from rich.table import Table


def _not_apitools_notice(record: logging.LogRecord) -> bool:
    # Importing Beam's GCP I/O warns on the root logger that BigQuery's libraries are
    # missing, on every run; the backfill never touches BigQuery.
    return "apitools not found" not in record.getMessage()


logging.getLogger().addFilter(_not_apitools_notice)
from functions.ingestion.backfill.pipeline import run  # noqa: E402 - after the filter above

EXIT_OK, EXIT_SOME_REFUSED, EXIT_USAGE = 0, 1, 2
# Outcomes that need nobody's attention.
SETTLED = frozenset({"anonymized", "unchanged", "duplicate"})

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console(stderr=True)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def backfill(  # noqa: PLR0917 - one parameter per CLI option is how typer declares them
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="gs://<bucket>/<prefix>, or a folder")],
    dead_letter: Annotated[
        str, typer.Option("--dead-letter", help="Path prefix of the refused objects' JSON lines")
    ],
    center: Annotated[
        str | None,
        typer.Option("--center", help="Center of every object (default: first folder)"),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="DirectRunner workers")] = 1,
    worker_threads: Annotated[
        int, typer.Option("--worker-threads", min=1, help="Objects at once per worker")
    ] = 4,
) -> None:
    """Ingest every object of SOURCE as the upload functions would, keeping the originals."""
    argv = [f"--source={source}", f"--dead_letter={dead_letter}"]
    if center:
        argv.append(f"--center={center}")
    # Processes: de-identification is CPU-bound Python. A later option given (ctx.args,
    # e.g. --direct_running_mode=multi_threading) overrides these.
    argv += [
        f"--direct_num_workers={workers}",
        "--direct_running_mode=multi_processing",
        f"--worker_threads={worker_threads}",
        *ctx.args,
    ]
    problem = _credentials_problem()
    if problem:
        console.print(f"error: {problem}", markup=False)
        raise typer.Exit(EXIT_USAGE)
    try:
        counts = run(argv)
    except ValueError as error:
        console.print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    table = Table(title="backfill")
    table.add_column("outcome")
    table.add_column("objects", justify="right")
    for outcome, count in sorted(counts.items()):
        table.add_row(outcome, str(count))
    console.print(table)
    refused = sum(n for name, n in counts.items() if name not in SETTLED | {"listed"})
    raise typer.Exit(EXIT_SOME_REFUSED if refused else EXIT_OK)


def _credentials_problem() -> str | None:
    """Why Google Cloud cannot be reached, said before Beam starts (None: it can).

    Without this, a first run outside the local stack ends in a worker's traceback.
    """
    if os.environ.get("FIRESTORE_EMULATOR_HOST"):
        return None  # the local stack's emulators take no credentials
    try:
        google.auth.default()
    except DefaultCredentialsError:
        return (
            "no Google Cloud credentials: run `gcloud auth application-default login`, "
            'or point at the local stack first (eval "$(saludtech-local env)"); '
            "see docs/backfill.md"
        )
    return None


def main() -> None:
    app(prog_name="saludtech-backfill")
