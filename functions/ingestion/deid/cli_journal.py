"""The run journal: one line per finished input, appended as it finishes, for ``--resume``.

It lives in the output folder, which is meant to be shared, so it never holds a name: an
input is its keyed hash (``name_id``), the size and mtime of its file and its report row
(pseudonyms, codes and technical facts only). A line is flushed as soon as its input is
done, so a killed run loses at most the inputs in flight; a torn last line is ignored.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import IO, Any

JOURNAL_NAME = ".saludtech-deid-journal.jsonl"
_VERSION = 1


class JournalMismatch(ValueError):
    """The output folder holds another run's journal; the message says what to do."""


class Journal:
    """Append-only record of finished inputs in ``<output>/.saludtech-deid-journal.jsonl``."""

    def __init__(self, path: Path, fp: IO[str], previous: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self._fp = fp
        self.previous = previous  # name id -> the last row recorded for it

    @classmethod
    def open(cls, output: Path, settings: dict[str, Any], resume: bool) -> Journal:
        """Start a journal, or continue one with ``resume`` (same key, center and options)."""
        path = output / JOURNAL_NAME
        existed = path.exists() and path.stat().st_size > 0
        if existed and not resume:
            raise JournalMismatch(
                f"{output} holds a previous run ({JOURNAL_NAME}): "
                "pass --resume to continue it, or choose an empty folder"
            )
        fp = path.open("a", encoding="utf-8")
        try:
            # Held until the run ends: a second run on this folder would race for outputs.
            fcntl.flock(fp.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fp.close()
            raise JournalMismatch(f"another run is writing to {output}") from None
        previous: dict[str, dict[str, Any]] = {}
        if existed:
            header, previous = _read(path)
            if header != settings:
                fp.close()
                changed = sorted(
                    k for k in settings.keys() | header.keys() if settings.get(k) != header.get(k)
                )
                raise JournalMismatch(
                    "--resume needs the previous run's key, center, options and layout; "
                    f"different: {', '.join(changed)}"
                )
            if not path.read_bytes().endswith(b"\n"):
                fp.write("\n")  # end a line torn by a killed run before appending
        else:
            fp.write(json.dumps({"journal": _VERSION, **settings}) + "\n")
        fp.flush()
        return cls(path, fp, previous)

    def finished(self, name_id: str, stamp: str) -> bool:
        """Whether a previous run finished this input, unchanged since."""
        row = self.previous.get(name_id)
        return row is not None and row.get("stamp") == stamp

    def append(self, row: dict[str, Any]) -> None:
        self._fp.write(json.dumps(row) + "\n")
        self._fp.flush()

    def close(self) -> None:
        self._fp.close()


def _read(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    header: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as fp:
        for number, line in enumerate(fp):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a killed run: that input is simply done again
            if number == 0:
                header = {k: v for k, v in record.items() if k != "journal"}
            elif isinstance(record, dict) and "id" in record:
                rows[str(record["id"])] = record
    return header, rows
