"""``saludtech-deid``: de-identify a file, a folder or a zip into an output folder.

Output layout ``<patient_token>/<study uid>/<series uid>/<sop uid>.dcm`` (every part a
keyed pseudonym). An output never replaces another: an input whose output already exists
with the same bytes is reported as a duplicate of it, one with different content under the
same UIDs as a conflict (``uid_conflict``). Sources are named by their position only
(``#12``; a zip's members, including zips found in a folder, are numbered in turn), never by
their path, unless ``--report-names`` asks for it: file names often carry patient names.

Exit codes: 0 all de-identified (or duplicates), 1 some quarantined, failed or in conflict,
2 usage or key error.
"""

from __future__ import annotations

import hashlib
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
    name: str = ""  # path or zip member, reported only with --report-names


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


def _is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)


def _zip_members(path: Path) -> int:
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(1 for i in archive.infolist() if not i.is_dir())
    except (zipfile.BadZipFile, OSError):
        return 1


def _zip_tasks(path: Path, limits: ZipLimits, first: int) -> Iterator[Task]:
    index = first
    try:
        for entry in iter_zip(path, limits):
            yield Task(index, data=entry.data, reason=entry.reason, name=f"{path}!{entry.name}")
            index += 1
    except DeidFailure as failure:
        yield Task(index, reason=failure.reason, name=str(path))


def _count_and_iter(source: Path, limits: ZipLimits) -> tuple[int, Iterator[Task]]:
    """How many inputs (for the progress bar) and the inputs, numbered in order."""
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    total = sum(_zip_members(p) if _is_zip(p) else 1 for p in files)

    def tasks() -> Iterator[Task]:
        index = 0
        for path in files:
            if _is_zip(path):
                for task in _zip_tasks(path, limits, index):
                    index = task.index + 1
                    yield task
            else:
                yield Task(index, path=str(path), name=str(path))
                index += 1

    return total, tasks()


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        while chunk := fp.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _place(tmp: Path, final: Path, sha256: str | None) -> tuple[str, Rejection | None]:
    """Move an output into place without ever replacing one: (outcome, conflict reason).

    A hard link creates the name only if it does not exist, atomically, even with several
    worker processes racing for it.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(tmp, final)
    except FileExistsError:
        same = sha256 is not None and _digest(final) == sha256
        return ("duplicate", None) if same else ("conflict", Rejection.UID_CONFLICT)
    finally:
        tmp.unlink(missing_ok=True)
    return "deidentified", None


_WORKER: tuple[Deidentifier, str, Path | None, bool, bool] | None = None


def _init_worker(  # noqa: PLR0917 - the process pool passes initargs positionally
    key: bytes,
    options: DeidOptions,
    center: str,
    out: Path | None,
    dry_run: bool,
    report_names: bool = False,
) -> None:
    global _WORKER
    _WORKER = (Deidentifier(key, options), center, out, dry_run, report_names)


def _process(task: Task) -> dict[str, object]:
    """Run one task in a worker; returns a report row (PHI-free unless --report-names)."""
    assert _WORKER is not None
    deid, center, out, dry_run, report_names = _WORKER
    row: dict[str, object] = {"source": f"#{task.index}"}
    if report_names:
        row["name"] = task.name
    if task.reason is not None:
        row.update(ok=False, reason=task.reason.value, quarantined=False, outcome="failed")
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
    row.update(result.as_dict(), quarantined=result.quarantined)
    if not result.ok:
        tmp.unlink(missing_ok=True)
        row["outcome"] = "quarantined" if result.quarantined else "failed"
        return row
    final = (
        out
        / str(result.patient_token)
        / str(result.study_uid)
        / str(result.series_uid)
        / f"{result.sop_instance_uid}.dcm"
    )
    outcome, conflict = _place(tmp, final, result.sha256)
    row["outcome"] = outcome
    row["output"] = str(final.relative_to(out))
    if conflict is not None:
        row.update(ok=False, reason=conflict.value, detail="another input has these UIDs")
    return row


def _run_all(
    tasks: Iterator[Task],
    total: int,
    workers: int,
    init: tuple[bytes, DeidOptions, str, Path | None, bool, bool],
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    columns = (TextColumn("de-identifying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("deid", total=total)
        if workers <= 1:
            _init_worker(*init)
            for task in tasks:
                rows.append(_process(task))
                progress.advance(bar)
            return rows
        with ProcessPoolExecutor(
            max_workers=workers, initializer=_init_worker, initargs=init
        ) as pool:
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
    done = sum(1 for r in rows if r.get("ok") and r.get("outcome") != "duplicate")
    duplicates = sum(1 for r in rows if r.get("outcome") == "duplicate")
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
    if duplicates:
        table.add_row("duplicate (same output as another input)", "", str(duplicates))
    for reason, count in sorted(quarantined.items()):
        table.add_row("quarantined", reason, str(count))
    for reason, count in sorted(failed.items()):
        table.add_row("failed", reason, str(count))
    console.print(table)
    return EXIT_OK if done + duplicates == len(rows) else EXIT_SOME_REJECTED


@app.command()
def deidentify(  # noqa: PLR0917 - one parameter per CLI option is how typer declares them
    source: Annotated[Path, typer.Argument(help="A DICOM file, a folder or a .zip")],
    center: Annotated[str, typer.Option("--center", help="Center (data source) id")],
    output: Annotated[Path | None, typer.Argument(help="Output folder")] = None,
    key_file: Annotated[Path | None, typer.Option("--key-file", help="HMAC key file")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List changes only")] = False,
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
        typer.Option("--report", help="Write a JSON-lines report, one row per input (no PHI)"),
    ] = None,
    report_names: Annotated[
        bool,
        typer.Option(
            "--report-names",
            help="Name each input by its path in the report (operator only: "
            "paths may carry patient names)",
        ),
    ] = False,
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
    rows = _run_all(
        tasks,
        total,
        workers,
        (key, options, center, None if dry_run else output, dry_run, report_names),
    )
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
