"""The CLI's outcomes: SOP Instance UID clashes and duplicates, the report and the summary.

Rows refer to inputs by a keyed hash of their name (``id``) until the report is written,
where the operator's own names are put back (or kept hashed with ``--redact-names``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

# Outcomes that count as done: the input's de-identified form is in the output folder.
WRITTEN = frozenset({"written", "duplicate", "would_write"})
EXIT_OK, EXIT_SOME_REJECTED, EXIT_USAGE = 0, 1, 2
_LISTED = 20  # problem inputs named in the summary; the report has them all
# File names are the operator's but may be anyone's (a received archive): shown as plain
# text, never as rich markup ("[red]x.dcm"), and control characters (a name holding an
# escape sequence would drive the terminal) as visible escapes.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}


def shown(text: str) -> Text:
    """Text of a name (or a status naming inputs) as the terminal must show it."""
    return Text(text.translate(_CONTROLS))


def reconcile(report: list[dict[str, Any]], layout: str) -> None:
    """Mark, across every input of the archive, outputs that share a SOP Instance UID.

    Same (pseudonymous) SOP Instance UID and same bytes: a duplicate of the first such
    input (in the pseudonymous layout they share one file: not written twice). Same UID,
    other bytes: both are written and the later one reports the clash. "First" is in the
    order of the input names, so the report does not depend on workers or on resuming.
    """
    by_sop: dict[str, tuple[str, str]] = {}
    by_sha: dict[str, str] = {}
    for row in report:
        sop, sha, source = row.get("sop_instance_uid"), row.get("sha256"), str(row["source"])
        if not row.get("ok") or not sop or not sha or row.get("outcome") == "would_write":
            continue
        first = by_sha.get(sha)
        if first is not None:
            row["duplicate_of"] = first
            row["outcome"] = "duplicate" if layout == "pseudonymous" else "written"
        else:
            # A worker that found the bytes already in place says "duplicate" even when the
            # file came from a stopped run of this same input, or from a racing worker.
            row["outcome"] = "written"
            other = by_sop.get(sop)
            if other is not None and other[1] != sha:
                row["clash_with"] = other[0]
        by_sop.setdefault(sop, (source, sha))
        by_sha.setdefault(sha, source)
    for row in report:
        row["status"] = status(row)


def status(row: dict[str, Any]) -> str:
    """One phrase for a row: what happened to the input."""
    outcome = str(row.get("outcome"))
    if outcome in ("quarantined", "failed"):
        return f"{outcome}: {row.get('reason')}"
    if row.get("clash_with"):
        return f"{outcome}, sop_uid_clash with {row['clash_with']}"
    if row.get("duplicate_of"):
        return f"{outcome}, same output as {row['duplicate_of']}"
    return outcome


def named(rows: list[dict[str, Any]], names: dict[str, str], redact: bool) -> list[dict[str, Any]]:
    """Report rows, in name order: ``source`` is the input's relative name or ``h:<hash>``."""
    report = []
    for row in rows:
        name_id = str(row["id"])
        source = f"h:{name_id}" if redact or name_id not in names else names[name_id]
        out = {"source": source}
        out.update({k: v for k, v in row.items() if k not in ("id", "stamp", "changes")})
        report.append(out)
    return sorted(report, key=lambda r: str(r["source"]))


def write_report(path: Path, rows: list[dict[str, Any]]) -> None:
    """JSON lines, one per input, written whole then moved into place."""
    tmp = path.with_name(f".{path.name}.partial")
    with tmp.open("w", encoding="utf-8") as fp:
        for row in rows:
            fp.write(json.dumps(row) + "\n")
    os.replace(tmp, path)


def changes_table(rows: list[dict[str, Any]]) -> Table:
    """Dry run: which attributes would change, and how often (never a value)."""
    changes: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        for path, tag, action in row.get("changes") or []:
            changes[(path, tag, action)] += 1
    table = Table(title="attributes that would change (no values shown)")
    for column in ("path", "tag", "action", "objects"):
        table.add_column(column, overflow="fold")
    for (path, tag, action), count in sorted(changes.items()):
        table.add_row(path, tag, action, str(count))
    return table


def summarize(console: Console, report: list[dict[str, Any]], skipped: int, show: bool) -> int:
    """Print the summary (and the inputs that need a look); return the exit code."""
    done = all(r.get("outcome") in WRITTEN for r in report)
    exit_code = EXIT_OK if done else EXIT_SOME_REJECTED
    if not show:
        return exit_code
    counts: Counter[tuple[str, str]] = Counter()
    for row in report:
        outcome = str(row.get("outcome"))
        if outcome in ("quarantined", "failed"):
            counts[(outcome, str(row.get("reason")))] += 1
        elif row.get("clash_with"):
            counts[(f"{outcome} (SOP Instance UID clash, both written)", "")] += 1
        elif row.get("duplicate_of") and outcome == "duplicate":
            counts[("duplicate (not written twice)", "")] += 1
        else:
            counts[(outcome, "")] += 1
    table = Table(title="summary")
    table.add_column("outcome")
    table.add_column("reason")
    table.add_column("inputs", justify="right")
    for (outcome, reason), count in sorted(counts.items()):
        table.add_row(outcome, reason, str(count))
    if skipped:
        table.add_row("(of which finished by a previous run, skipped)", "", str(skipped))
    console.print(table)
    notable = [r for r in report if r.get("outcome") not in WRITTEN or r.get("clash_with")]
    if notable:
        listing = Table(title="inputs to look at")
        listing.add_column("input", overflow="fold")
        listing.add_column("status", overflow="fold")
        for row in notable[:_LISTED]:
            listing.add_row(shown(str(row["source"])), shown(str(row["status"])))
        if len(notable) > _LISTED:
            listing.add_row(f"... and {len(notable) - _LISTED} more", "see --report")
        console.print(listing)
    return exit_code
