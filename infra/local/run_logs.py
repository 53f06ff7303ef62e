"""One log directory per run of the stack, so a restart never overwrites what came before.

    .local/logs/20261202T161530Z/functions.log   a run's logs, one file per part
    .local/logs/latest -> 20261202T161530Z       the newest run

The newest `KEPT_RUNS` runs are kept; older ones are deleted when a new run starts.
"""

from __future__ import annotations

import contextlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

KEPT_RUNS = 10
LATEST = "latest"


def _runs(logs_root: Path) -> list[Path]:
    # Run names are UTC timestamps: sorting by name is sorting by age.
    return sorted(p for p in logs_root.iterdir() if p.is_dir() and not p.is_symlink())


def new_run_dir(logs_root: Path, keep: int = KEPT_RUNS) -> Path:
    """Create the directory of a new run, point `latest` at it, drop the oldest runs."""
    logs_root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run = logs_root / stamp
    suffix = 1
    while run.exists():  # two starts within one second
        suffix += 1
        run = logs_root / f"{stamp}-{suffix}"
    run.mkdir()
    for old in _runs(logs_root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    # Replace the link atomically: a reader never finds `latest` missing.
    link = logs_root / f".{LATEST}-{run.name}"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(run.name, target_is_directory=True)
    link.replace(logs_root / LATEST)
    return run
