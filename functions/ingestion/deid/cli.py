"""``saludtech-deid``: de-identify a file, a folder or a zip into an output folder.

Output layout ``<patient_token>/<study uid>/<series uid>/<sop uid>.dcm`` cannot collide
(every part is a keyed pseudonym). Sources are named by their position only, never by
their path: file and folder names often carry patient names.

Exit codes: 0 all de-identified, 1 some quarantined or failed, 2 usage or key error.
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .engine import Deidentifier
from .options import DeidOptions, SafePrivateTag
from .pseudonyms import MIN_KEY_BYTES
from .reasons import DeidFailure, Rejection
from .zip_input import ZipLimits, iter_zip

KEY_ENV = "SALUDTECH_HMAC_KEY"
EXIT_OK, EXIT_SOME_REJECTED, EXIT_USAGE = 0, 1, 2

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console(stderr=True)


@dataclass(frozen=True, slots=True)
class Task:
    """One object to process: a path on disk, or bytes taken out of a zip."""

    index: int
    path: str | None = None
    data: bytes | None = None
    reason: Rejection | None = None


def load_key(key_file: Path | None) -> bytes:
    """The HMAC key from ``--key-file`` or the environment; hex is decoded when it looks hex."""
    if key_file is not None:
        raw = key_file.read_bytes().strip()
    else:
        env = os.environ.get(KEY_ENV, "")
        if not env:
            raise ValueError(f"no key: set {KEY_ENV} or pass --key-file")
        raw = env.encode()
    try:
        text = raw.decode("ascii")
        key = bytes.fromhex(text) if len(text) >= 2 * MIN_KEY_BYTES and len(text) % 2 == 0 else raw
    except (UnicodeDecodeError, ValueError):
        key = raw
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"key too short: at least {MIN_KEY_BYTES} bytes")
    return key


def _count_and_iter(source: Path, limits: ZipLimits) -> tuple[int, Iterator[Task]]:
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file())
        return len(files), (Task(i, path=str(p)) for i, p in enumerate(files))
    if source.suffix.lower() == ".zip" or zipfile.is_zipfile(source):
        try:
            with zipfile.ZipFile(source) as archive:
                total = sum(1 for i in archive.infolist() if not i.is_dir())
        except (zipfile.BadZipFile, OSError):
            total = 1

        def from_zip() -> Iterator[Task]:
            try:
                for entry in iter_zip(source, limits):
                    yield Task(entry.index, data=entry.data, reason=entry.reason)
            except DeidFailure as failure:
                yield Task(-1, reason=failure.reason)

        return total, from_zip()
    return 1, iter([Task(0, path=str(source))])


_WORKER: tuple[Deidentifier, str, Path | None, bool] | None = None


def _init_worker(key: bytes, options: DeidOptions, center: str, out: Path | None,
                 dry_run: bool) -> None:
    global _WORKER
    _WORKER = (Deidentifier(key, options), center, out, dry_run)


def _process(task: Task) -> dict[str, object]:
    """Run one task in a worker; returns a PHI-free report row."""
    assert _WORKER is not None
    deid, center, out, dry_run = _WORKER
    row: dict[str, object] = {"source": f"#{task.index}"}
    if task.reason is not None:
        row.update(ok=False, reason=task.reason.value, quarantined=False)
        return row
    source: bytes | str = task.data if task.data is not None else str(task.path)
    if dry_run or out is None:
        result = deid.deidentify(source, center, None, record_changes=True)
        row.update(result.as_dict(), quarantined=result.quarantined)
        row["changes"] = [(c.path, c.tag, c.action) for c in result.changes]
        return row
    partial = out / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    tmp = partial / f"{uuid.uuid4().hex}.dcm"
    with tmp.open("wb") as fp:
        result = deid.deidentify(source, center, fp)
    if result.ok:
        final = (out / str(result.patient_token) / str(result.study_uid)
                 / str(result.series_uid) / f"{result.sop_instance_uid}.dcm")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(final)
        row["output"] = str(final.relative_to(out))
    else:
        tmp.unlink(missing_ok=True)
    row.update(result.as_dict(), quarantined=result.quarantined)
    return row


def _run_all(tasks: Iterator[Task], total: int, workers: int,
             init: tuple[bytes, DeidOptions, str, Path | None, bool]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    columns = (TextColumn("de-identifying"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("deid", total=total)
        if workers <= 1:
            _init_worker(*init)
            for task in tasks:
                rows.append(_process(task))
                progress.advance(bar)
            return rows
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                 initargs=init) as pool:
            pending: set[Future[dict[str, object]]] = set()
            for task in tasks:
                pending.add(pool.submit(_process, task))
                if len(pending) >= workers * 4:  # bounded: zip members are in memory
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        rows.append(fut.result())
                        progress.advance(bar)
            for fut in pending:
                rows.append(fut.result())
                progress.advance(bar)
    return rows


def _summary(rows: list[dict[str, object]], dry_run: bool) -> int:
    done = sum(1 for r in rows if r.get("ok"))
    quarantined = Counter(str(r["reason"]) for r in rows if r.get("quarantined"))
    failed = Counter(str(r["reason"]) for r in rows if not r.get("ok") and not r.get("quarantined"))
    if dry_run:
        changes: Counter[tuple[str, str, str]] = Counter()
        for r in rows:
            for change in r.get("changes", []) or []:  # type: ignore[attr-defined]
                changes[tuple(change)] += 1
        table = Table(title="attributes that would change (no values shown)")
        for column in ("path", "tag", "action", "objects"):
            table.add_column(column, overflow="fold")
        for (path, tag, action), count in sorted(changes.items()):
            table.add_row(path, tag, action, str(count))
        console.print(table)
    table = Table(title="summary")
    table.add_column("outcome")
    table.add_column("reason")
    table.add_column("count", justify="right")
    table.add_row("de-identified" if not dry_run else "would de-identify", "", str(done))
    for reason, count in sorted(quarantined.items()):
        table.add_row("quarantined", reason, str(count))
    for reason, count in sorted(failed.items()):
        table.add_row("failed", reason, str(count))
    console.print(table)
    return EXIT_OK if done == len(rows) else EXIT_SOME_REJECTED


@app.command()
def deidentify(  # noqa: PLR0917 - one parameter per CLI option is how typer declares them
    source: Annotated[Path, typer.Argument(help="A DICOM file, a folder or a .zip")],
    output: Annotated[Path | None, typer.Argument(help="Output folder")] = None,
    center: Annotated[str, typer.Option("--center", help="Center (data source) id")] = "",
    key_file: Annotated[Path | None, typer.Option("--key-file", help="HMAC key file")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List changes only")] = False,
    modified_dates: Annotated[bool, typer.Option(
        "--retain-modified-dates", help="Shift dates by a keyed per-patient offset")] = False,
    patient_chars: Annotated[bool, typer.Option("--retain-patient-chars")] = False,
    device_identity: Annotated[bool, typer.Option("--retain-device-identity")] = False,
    institution_identity: Annotated[bool, typer.Option("--retain-institution-identity")] = False,
    clean_descriptors: Annotated[bool, typer.Option("--clean-descriptors")] = False,
    safe_private: Annotated[list[str] | None, typer.Option(
        "--safe-private", help="GGGG,CREATOR,EE private element to keep (repeatable)")] = None,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write a JSON-lines report (no PHI)")] = None,
) -> None:
    """De-identify SOURCE into OUTPUT with the PS3.15 Basic Profile and the chosen options."""
    if not center:
        console.print("[red]--center is required[/red]")
        raise typer.Exit(EXIT_USAGE)
    if not source.exists():
        console.print("[red]source does not exist[/red]")
        raise typer.Exit(EXIT_USAGE)
    if output is None and not dry_run:
        console.print("[red]OUTPUT is required unless --dry-run[/red]")
        raise typer.Exit(EXIT_USAGE)
    try:
        key = load_key(key_file)
        allow = frozenset(SafePrivateTag.parse(s) for s in safe_private or [])
    except (ValueError, OSError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_USAGE) from None
    options = DeidOptions(
        retain_longitudinal_modified_dates=modified_dates,
        retain_patient_characteristics=patient_chars,
        retain_device_identity=device_identity,
        retain_institution_identity=institution_identity,
        clean_descriptors=clean_descriptors,
        retain_safe_private=allow,
    )
    if output is not None and not dry_run:
        output.mkdir(parents=True, exist_ok=True)
    total, tasks = _count_and_iter(source, ZipLimits())
    rows = _run_all(tasks, total, workers, (key, options, center,
                                            None if dry_run else output, dry_run))
    exit_code = _summary(rows, dry_run)
    if report is not None:
        with report.open("w") as fp:
            for row in rows:
                row.pop("changes", None)
                fp.write(json.dumps(row) + "\n")
    if output is not None and not dry_run:
        partial = output / ".partial"
        if partial.exists() and not any(partial.iterdir()):
            partial.rmdir()
    raise typer.Exit(exit_code)


def main() -> None:
    """Entry point for ``python -m functions.ingestion.deid``."""
    app()
