"""The CLI's work on one input, in a worker process, and the pool that runs it.

Outputs are written to ``<output>/.partial`` first and then hard-linked into place: a link
creates its name only if it does not exist, atomically, so no output ever replaces another,
even with several processes racing for one name.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from .cli_inputs import MEMBER_SEPARATOR, Task
from .engine import Deidentifier
from .options import DeidOptions
from .result import DeidResult

PARTIAL_DIR = ".partial"
OUTPUT_ERROR = "output_error"  # a reason of the CLI's own: the output could not be written


class Layout(StrEnum):
    """Where outputs go: keyed pseudonyms (shareable) or the inputs' own relative paths."""

    PSEUDONYMOUS = "pseudonymous"
    MIRROR = "mirror"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What every worker needs; sent once per process (the key never goes in a task)."""

    key: bytes
    options: DeidOptions
    center: str
    output: Path | None  # None: dry run, nothing written
    layout: Layout = Layout.PSEUDONYMOUS


_WORKER: tuple[Deidentifier, WorkerConfig] | None = None


def init_worker(config: WorkerConfig) -> None:
    global _WORKER
    _WORKER = (Deidentifier(config.key, config.options), config)


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        while chunk := fp.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _link(tmp: Path, final: Path, sha256: str) -> str | None:
    """Link ``tmp`` to ``final``: "written", "same" (already there, same bytes) or None."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        return "same" if _digest(final) == sha256 else None
    return "written"


def place_pseudonymous(tmp: Path, directory: Path, sop_uid: str, sha256: str) -> tuple[str, Path]:
    """``<sop>.dcm``, or ``<sop>.<hash>.dcm`` when another output already has that name.

    Two inputs may carry one SOP Instance UID with different content (a re-sent image, an
    edited copy): both are valid, so the second gets its content hash in its name rather
    than being refused. Returns ("written" | "duplicate", path).
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name in (f"{sop_uid}.dcm", f"{sop_uid}.{sha256[:12]}.dcm", f"{sop_uid}.{sha256}.dcm"):
        final = directory / name
        outcome = _link(tmp, final, sha256)
        if outcome is not None:
            return ("duplicate" if outcome == "same" else "written"), final
    raise FileExistsError("every name for this output is taken by other content")


def settle_clashing_names(
    rows: list[dict[str, Any]], name_of: Callable[[dict[str, Any]], str], output: Path
) -> list[dict[str, Any]]:
    """Give ``<sop>.dcm`` of each clash to the input first in name order; returns the rows
    whose output moved.

    ``place_pseudonymous`` gives the plain name to whichever clashing output a worker placed
    first, which depends on timing (and, over ``--resume``, on which run met which input).
    Here, once every output is placed, the input that sorts first holds the plain name and
    the others their content-hashed names, as one single-worker run would have left them.
    Two renames in one folder, the holder's first: a crash between them leaves both under
    their own hashed names, and the next run settles them.
    """
    # One pass over the rows, grouped by (folder, SOP UID): a folder of thousands of
    # slices is not scanned again for each of them.
    clashes: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("ok") and row.get("output") and row.get("sop_instance_uid"):
            folder = str(PurePosixPath(str(row["output"])).parent)
            clashes.setdefault((folder, str(row["sop_instance_uid"])), []).append(row)
    moved: list[dict[str, Any]] = []
    for (folder, sop), placed in clashes.items():
        if len({r["sha256"] for r in placed}) < 2:
            continue
        same = sorted(placed, key=name_of)
        plain = f"{folder}/{sop}.dcm"
        first = same[0]
        if first["output"] == plain:
            continue
        holder = next((r for r in same if r["output"] == plain), None)
        if holder is None:
            continue
        hashed = f"{folder}/{sop}.{str(holder['sha256'])[:12]}.dcm"
        if (output / hashed).exists():
            continue  # left as placed: a later run of this archive settles it
        old_first = str(first["output"])
        os.rename(output / plain, output / hashed)
        os.rename(output / old_first, output / plain)
        for row in same:
            if row["output"] in (plain, old_first):
                row["output"] = hashed if row["output"] == plain else plain
                moved.append(row)
    return moved


def mirror_path(output: Path, name: str) -> Path:
    """The output path that mirrors an input's (a zip member under a folder named as the zip)."""
    return output / name.replace(MEMBER_SEPARATOR, "/")


def _write(deid: Deidentifier, config: WorkerConfig, task: Task, row: dict[str, Any]) -> None:
    assert config.output is not None
    partial = config.output / PARTIAL_DIR
    partial.mkdir(parents=True, exist_ok=True)
    tmp = partial / f"{uuid.uuid4().hex}.dcm"
    source: bytes | str = task.data if task.data is not None else str(task.path)
    try:
        with tmp.open("wb") as fp:
            result = deid.deidentify(source, config.center, fp)
        _fill(row, result)
        if not result.ok or result.sha256 is None:
            return
        if config.layout is Layout.MIRROR:
            final = mirror_path(config.output, task.name)
            final.parent.mkdir(parents=True, exist_ok=True)
            if _link(tmp, final, result.sha256) is None:
                # Only a foreign file can hold this name: never replace it (and, as for any
                # output error, --resume retries once the operator has moved it).
                row.update(ok=False, outcome="failed", reason=OUTPUT_ERROR)
                row["detail"] = "another file is at this output path"
            return
        directory = (
            config.output
            / str(result.patient_token)
            / str(result.study_uid)
            / str(result.series_uid)
        )
        outcome, final = place_pseudonymous(
            tmp, directory, str(result.sop_instance_uid), result.sha256
        )
        row["outcome"] = outcome
        row["output"] = final.relative_to(config.output).as_posix()
    finally:
        tmp.unlink(missing_ok=True)


def _fill(row: dict[str, Any], result: DeidResult) -> None:
    row.update(result.as_dict(), quarantined=result.quarantined)
    if result.ok:
        row["outcome"] = "written"
    else:
        row["outcome"] = "quarantined" if result.quarantined else "failed"


def process(task: Task) -> dict[str, Any]:
    """De-identify one input; returns its report row, named by the input's relative name.

    ``seconds`` (the input's own processing time) lets an operator or a benchmark see where
    the time of a run goes, e.g. which images went to the OCR.
    """
    assert _WORKER is not None, "init_worker first"
    deid, config = _WORKER
    row: dict[str, Any] = {"name": task.name, "stamp": task.stamp, "bytes": task.size}
    start = time.perf_counter()
    if task.reason is not None:
        row.update(ok=False, reason=task.reason.value, quarantined=False, outcome="failed")
    elif config.output is None:
        source: bytes | str = task.data if task.data is not None else str(task.path)
        result = deid.deidentify(source, config.center, None, record_changes=True)
        _fill(row, result)
        if result.ok:
            row["outcome"] = "would_write"
        row["changes"] = [(c.path, c.tag, c.action) for c in result.changes]
    else:
        try:
            _write(deid, config, task, row)
        except OSError as exc:
            # This input's output could not be written (disk full, a file where a folder
            # must go): it fails, not the run, and is not journaled, so --resume retries it.
            row.update(ok=False, outcome="failed", reason=OUTPUT_ERROR, quarantined=False)
            row["detail"] = exc.strerror or type(exc).__name__
    row["seconds"] = round(time.perf_counter() - start, 4)
    return row


def run_tasks(
    tasks: Iterable[Task],
    config: WorkerConfig,
    workers: int,
    on_row: Callable[[dict[str, Any]], None],
) -> None:
    """Process every task, calling ``on_row`` in this process as each one finishes."""
    if workers <= 1:
        init_worker(config)
        for task in tasks:
            on_row(process(task))
        return
    with ProcessPoolExecutor(
        max_workers=workers, initializer=init_worker, initargs=(config,)
    ) as pool:
        pending: set[Future[dict[str, Any]]] = set()
        for task in tasks:
            pending.add(pool.submit(process, task))
            if len(pending) >= workers * 4:  # bounded: zip members are held in memory
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_row(future.result())
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                on_row(future.result())
