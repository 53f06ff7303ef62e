"""Progress of a CLI run on stderr: inputs done, files/s, MB/s and time left."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text


class FilesPerSecondColumn(ProgressColumn):
    """Inputs finished per second since the start (the bar itself counts bytes)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        files = int(task.fields.get("files", 0))
        rate = f"{files / elapsed:.1f}" if elapsed > 0 else "-"
        return Text(f"{rate} files/s", style="progress.data.speed")


def make_progress(console: Console, enabled: bool) -> Progress:
    """The bar advances by input bytes, so MB/s and the ETA weigh large files right."""
    return Progress(
        TextColumn("de-identifying"),
        BarColumn(),
        TextColumn("{task.fields[files]}/{task.fields[total_files]} inputs"),
        FilesPerSecondColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )
