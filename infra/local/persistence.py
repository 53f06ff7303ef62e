"""`up --persist`: Firestore and Cloud Storage state kept under <state_dir>/data/.

Firestore: the emulator keeps documents in memory only. At stop (and before a restart of
the emulator) the stack asks it for an export of each database the contexts own, plus
`(default)` (`POST /emulator/v1/projects/<p>:export`, one database per call), into
data/firestore/<database>/; the next start imports the newest complete export of each
(`:import`, once the emulator answers: `--import-data` loads `(default)` only, and each
context has its own database since they stopped sharing one). Only the last export of a
database is kept. The emulator's own `--export-on-exit` writes nothing when it is sent
SIGTERM, hence the explicit calls. A stack that is killed without an orderly stop (SIGKILL
of `up`) keeps the state of its previous orderly stop.

Cloud Storage: fake-gcs-server's filesystem backend writes every object to disk as it
is stored, so nothing is lost even without an orderly stop.

Pub/Sub is not kept: the emulator has no persistence, so messages not yet delivered at
stop are lost and the topology is created again at every start.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import requests

EXPORT_TIMEOUT_SECONDS = 60.0
_METADATA_SUFFIX = ".overall_export_metadata"


def firestore_dir(data_dir: Path) -> Path:
    return data_dir / "firestore"


def gcs_dir(data_dir: Path) -> Path:
    return data_dir / "gcs"


DEFAULT_DATABASE = "(default)"


def _folder(database: str) -> str:
    return database.strip("()")  # "(default)" -> "default"; ids are [a-z0-9-]


def latest_firestore_export(data_dir: Path, database: str = DEFAULT_DATABASE) -> Path | None:
    """The metadata file of the newest export of `database` that was written completely."""
    root = firestore_dir(data_dir) / _folder(database)
    if not root.is_dir():
        return None
    # The emulator names each export firestore_export_<epoch seconds>, and writes the
    # overall metadata file last: an export without it was interrupted.
    exports = sorted(
        (p for p in root.iterdir() if p.is_dir() and (p / f"{p.name}{_METADATA_SUFFIX}").exists()),
        key=lambda p: p.stat().st_mtime_ns,
    )
    return exports[-1] / f"{exports[-1].name}{_METADATA_SUFFIX}" if exports else None


def kept_databases(data_dir: Path) -> dict[str, Path]:
    """Each database with a complete export, and that export's metadata file."""
    root = firestore_dir(data_dir)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    found = {
        (DEFAULT_DATABASE if name == _folder(DEFAULT_DATABASE) else name): latest
        for name in folders
        if (latest := latest_firestore_export(data_dir, name)) is not None
    }
    return found


def _call(firestore_host: str, project_id: str, verb: str, database: str, path: Path) -> None:
    response = requests.post(
        f"http://{firestore_host}/emulator/v1/projects/{project_id}:{verb}",
        json={
            "database": f"projects/{project_id}/databases/{database}",
            "export_directory": str(path),
        },
        timeout=EXPORT_TIMEOUT_SECONDS,
    )
    response.raise_for_status()


def export_firestore(
    firestore_host: str, project_id: str, data_dir: Path, databases: list[str]
) -> dict[str, Path]:
    """Export each database; drop a database's older exports once this one is complete."""
    exported = {}
    for database in dict.fromkeys([DEFAULT_DATABASE, *databases]):
        root = firestore_dir(data_dir) / _folder(database)
        root.mkdir(parents=True, exist_ok=True)
        _call(firestore_host, project_id, "export", database, root)
        latest = latest_firestore_export(data_dir, database)
        if latest is None:
            raise RuntimeError(f"the Firestore emulator reported an export but {root} holds none")
        for export in root.iterdir():
            if export.is_dir() and export != latest.parent:
                shutil.rmtree(export, ignore_errors=True)
        exported[database] = latest
    return exported


def import_firestore(firestore_host: str, project_id: str, data_dir: Path) -> list[str]:
    """Load the newest export of every kept database into a running emulator."""
    kept = kept_databases(data_dir)
    for database, metadata in kept.items():
        _call(firestore_host, project_id, "import", database, metadata)
    return list(kept)
