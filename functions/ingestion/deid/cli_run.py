"""One ``saludtech-deid`` run over an archive: plan, resume, work, reconcile, report."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from .cli_inputs import iter_tasks, plan
from .cli_journal import Journal
from .cli_keys import name_id
from .cli_progress import make_progress
from .cli_report import changes_table, named, reconcile, summarize, write_report
from .cli_worker import (
    OUTPUT_ERROR,
    PARTIAL_DIR,
    Layout,
    WorkerConfig,
    run_tasks,
    settle_clashing_names,
)
from .options import DeidOptions
from .pixels.screen import PIXEL_SCREEN_ENV
from .zip_input import ZipLimits


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Everything the command line asked for, checked."""

    source: Path
    output: Path | None  # None: dry run
    key: bytes
    center: str
    options: DeidOptions
    layout: Layout = Layout.PSEUDONYMOUS
    workers: int = 1
    resume: bool = False
    pixel_screen: bool = True
    redact_names: bool = False
    report: Path | None = None
    quiet: bool = False


@contextmanager
def pixel_screen_off(off: bool) -> Iterator[None]:
    """Switch the pixel screen off for this run: the environment reaches every worker."""
    saved = os.environ.get(PIXEL_SCREEN_ENV)
    if off:
        os.environ[PIXEL_SCREEN_ENV] = "off"
    try:
        yield
    finally:
        if off and saved is None:
            os.environ.pop(PIXEL_SCREEN_ENV, None)
        elif off and saved is not None:
            os.environ[PIXEL_SCREEN_ENV] = saved


class ArchiveRun:
    """Runs one request; ``execute`` returns the exit code (see ``cli_report``)."""

    def __init__(self, request: RunRequest, console: Console) -> None:
        self.request = request
        self.console = console
        self.journal: Journal | None = None
        self.rows: list[dict[str, Any]] = []
        self._names: dict[str, str] = {}

    @property
    def done(self) -> int:
        return len(self.rows)

    def _settings(self) -> dict[str, Any]:
        """What a resumed run must share with the run it continues (no secret, no name)."""
        r = self.request
        return {
            "key_check": name_id(r.key, "journal key check"),
            "center": r.center,
            "options": {
                "letters": sorted(r.options.option_letters),
                "safe_private": sorted(repr(t) for t in r.options.retain_safe_private),
            },
            "layout": r.layout.value,
        }

    def _id(self, name: str) -> str:
        return name_id(self.request.key, name)

    def _name_of(self, row: dict[str, Any]) -> str:
        return self._names.get(str(row["id"]), str(row["id"]))

    def execute(self) -> int:
        r = self.request
        planned = plan(r.source, skip=r.output)
        self._names = {self._id(p.name): p.name for p in planned}
        if r.output is not None:
            r.output.mkdir(parents=True, exist_ok=True)
            self.journal = Journal.open(r.output, self._settings(), r.resume)
            # Left by a killed run; nobody else writes here (the journal is locked).
            shutil.rmtree(r.output / PARTIAL_DIR, ignore_errors=True)
        journal = self.journal
        previous = dict(journal.previous) if journal else {}
        wanted = [
            p for p in planned if not (journal and journal.finished(self._id(p.name), p.stamp))
        ]
        for p in wanted:
            previous.pop(self._id(p.name), None)  # done again: its new row replaces the old
        progress = make_progress(self.console, enabled=not r.quiet and self.console.is_terminal)
        bar = progress.add_task(
            "deid", total=sum(p.size for p in wanted), files=0, total_files=len(wanted)
        )

        def on_row(row: dict[str, Any]) -> None:
            name = str(row.pop("name"))
            row["id"] = self._id(name)
            self._names[row["id"]] = name
            if journal is not None and row.get("reason") != OUTPUT_ERROR:
                journal.append({k: v for k, v in row.items() if k != "changes"})
            self.rows.append(row)
            progress.update(bar, advance=int(row.get("bytes", 0)), files=len(self.rows))

        config = WorkerConfig(r.key, r.options, r.center, r.output, r.layout)
        tasks = iter_tasks(r.source, wanted, ZipLimits(), skip=r.output)
        try:
            with pixel_screen_off(not r.pixel_screen), progress:
                run_tasks(tasks, config, r.workers, on_row)
            if journal is not None and r.output is not None and r.layout == Layout.PSEUDONYMOUS:
                every = [*previous.values(), *self.rows]
                for row in settle_clashing_names(every, self._name_of, r.output):
                    journal.append({k: v for k, v in row.items() if k != "changes"})
        finally:
            if journal is not None:
                journal.close()
        return self._finish(previous)

    def _finish(self, previous: dict[str, dict[str, Any]]) -> int:
        r = self.request
        if r.output is None and not r.quiet:
            self.console.print(changes_table(self.rows))
        full = named([*previous.values(), *self.rows], self._names, r.redact_names)
        reconcile(full, r.layout)
        exit_code = summarize(self.console, full, skipped=len(previous), show=not r.quiet)
        if r.report is not None:
            write_report(r.report, full)
        if r.output is not None:
            partial = r.output / PARTIAL_DIR
            if partial.exists() and not any(partial.iterdir()):
                partial.rmdir()
        return exit_code
