"""``saludtech-deid``: de-identify a file, a folder or a zip (an archive) into an output folder.

``saludtech-deid INPUT OUTPUT --center ID`` de-identifies; ``saludtech-deid keygen`` makes
the HMAC key it needs. The pieces: ``cli_inputs`` (what the inputs are and their names),
``cli_worker`` (one input in a worker process, outputs placed without replacing any),
``cli_journal`` (``--resume``), ``cli_report`` (clashes, report, summary), ``cli_keys``,
``cli_progress``, and ``cli_run``, which puts them together for one run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from .cli_journal import JOURNAL_NAME, JournalMismatch
from .cli_keys import KEY_ENV, BadKey, load_key, new_key_hex, write_key_file
from .cli_report import EXIT_USAGE
from .cli_run import ArchiveRun, RunRequest
from .cli_worker import Layout
from .options import DeidOptions, SafePrivateTag
from .pixels.screen import PIXEL_SCREEN_ENV

__all__ = ["JOURNAL_NAME", "KEY_ENV", "PIXEL_SCREEN_ENV", "app", "load_key", "main"]

DEFAULT_COMMAND = "deidentify"
# Each worker holds its own OCR model (hundreds of MB at peak): more only when asked.
MAX_AUTO_WORKERS = 4


class _DefaultCommandGroup(TyperGroup):
    """Anything that is not a subcommand name goes to ``deidentify``.

    So ``saludtech-deid INPUT OUTPUT --center ID`` keeps working beside ``keygen`` (an
    input folder literally named ``keygen`` is written ``./keygen``).
    """

    # ctx: typer's vendored click Context, which typer does not export under a public name.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [DEFAULT_COMMAND, *(args or ["--help"])]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_DefaultCommandGroup, add_completion=False, rich_markup_mode="markdown")
console = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    """A usage or key error: one line on stderr, exit 2."""
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(EXIT_USAGE)


def _inside(path: Path | None, folder: Path | None) -> bool:
    if path is None or folder is None:
        return False
    return path.resolve().is_relative_to(folder.resolve())


@app.command(DEFAULT_COMMAND)
def deidentify(  # noqa: PLR0917 - one parameter per CLI option is how typer declares them
    source: Annotated[Path, typer.Argument(help="A DICOM file, a folder or a .zip")],
    center: Annotated[str, typer.Option("--center", help="Center (data source) id")],
    output: Annotated[Path | None, typer.Argument(help="Output folder")] = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help=f"HMAC key file (else ${KEY_ENV}); see `keygen`"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help=f"Processes [default: the CPUs, at most {MAX_AUTO_WORKERS}]"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List changes only")] = False,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Skip inputs a previous run into OUTPUT finished"),
    ] = False,
    layout: Annotated[
        Layout,
        typer.Option(
            "--layout",
            help="pseudonymous: TOKEN/STUDY/SERIES/SOP.dcm, keyed pseudonyms (shareable); "
            "mirror: the inputs' own relative paths (only if names carry no PHI)",
        ),
    ] = Layout.PSEUDONYMOUS,
    no_pixel_screen: Annotated[
        bool,
        typer.Option(
            "--no-pixel-screen",
            help=f"Send every image needing a text check to OCR ({PIXEL_SCREEN_ENV}=off)",
        ),
    ] = False,
    modified_dates: Annotated[
        bool,
        typer.Option("--retain-modified-dates", help="Shift dates by a keyed per-patient offset"),
    ] = False,
    patient_chars: Annotated[bool, typer.Option("--retain-patient-chars")] = False,
    device_identity: Annotated[bool, typer.Option("--retain-device-identity")] = False,
    institution_identity: Annotated[bool, typer.Option("--retain-institution-identity")] = False,
    clean_descriptors: Annotated[bool, typer.Option("--clean-descriptors")] = False,
    safe_private: Annotated[
        list[str] | None,
        typer.Option("--safe-private", help="GGGG,CREATOR,EE private element to keep (repeatable)"),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Write a JSON-lines report, one row per input named by its path relative to "
            "INPUT: it stays on this machine (keep it out of OUTPUT, which is for sharing)",
        ),
    ] = None,
    redact_names: Annotated[
        bool,
        typer.Option("--redact-names", help="Name inputs by a keyed hash in the report"),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary")
    ] = False,
) -> None:
    """De-identify INPUT (a file, a folder or a zip) into OUTPUT with the PS3.15 Basic Profile.

    Every valid input is written: two inputs with one SOP Instance UID are both kept and
    the clash is reported. The report and the summary name inputs by their relative path
    (with --redact-names, by a keyed hash). Needs a key: `saludtech-deid keygen --out
    key.bin`, then --key-file key.bin or SALUDTECH_HMAC_KEY.

    Exit codes: 0 every input written (clashes and duplicates included), 1 some
    quarantined or failed (listed), 2 usage, key or journal error, 130 interrupted.
    """
    if not source.exists():
        _fail(f"{source} does not exist")
    if output is None and not dry_run:
        _fail("OUTPUT is required unless --dry-run")
    if dry_run and resume:
        _fail("--resume continues a run that writes; --dry-run writes nothing")
    if not redact_names and _inside(report, output):
        _fail("--report inside OUTPUT would share input names: put it elsewhere")
    try:
        key = load_key(key_file)
        allow = frozenset(SafePrivateTag.parse(s) for s in safe_private or [])
    except (BadKey, ValueError) as exc:
        _fail(str(exc))
    options = DeidOptions(
        retain_longitudinal_modified_dates=modified_dates,
        retain_patient_characteristics=patient_chars,
        retain_device_identity=device_identity,
        retain_institution_identity=institution_identity,
        clean_descriptors=clean_descriptors,
        retain_safe_private=allow,
    )
    request = RunRequest(
        source=source,
        output=None if dry_run else output,
        key=key,
        center=center,
        options=options,
        layout=layout,
        workers=workers or min(os.cpu_count() or 1, MAX_AUTO_WORKERS),
        resume=resume,
        pixel_screen=not no_pixel_screen,
        redact_names=redact_names,
        report=report,
        quiet=quiet,
    )
    run = ArchiveRun(request, console)
    try:
        exit_code = run.execute()
    except JournalMismatch as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        hint = " run again with --resume to continue" if run.journal else ""
        typer.secho(f"interrupted after {run.done} inputs;{hint}", err=True, fg="yellow")
        raise typer.Exit(130) from None
    raise typer.Exit(exit_code)


@app.command("keygen")
def keygen(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the key to this new file (mode 0600); else print it"),
    ] = None,
) -> None:
    """Make a new random HMAC key (32 bytes, hex). Keep it secret and keep it: the same key
    gives the same pseudonyms, so studies sent later still match earlier ones."""
    if out is None:
        typer.echo(new_key_hex())
        typer.echo(f"use it: export {KEY_ENV}=<the line above>", err=True)
        return
    try:
        write_key_file(out)
    except FileExistsError:
        _fail(f"{out} exists: a key is never overwritten (pseudonyms made with it would be lost)")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or type(exc).__name__}")
    typer.echo(
        f"wrote a new key to {out}; use it with --key-file {out} "
        f'or export {KEY_ENV}="$(cat {out})"',
        err=True,
    )


def main() -> None:
    """Entry point for ``python -m functions.ingestion.deid``."""
    app(prog_name="saludtech-deid")
