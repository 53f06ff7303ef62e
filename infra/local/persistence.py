"""`up --persist`: Firestore and Cloud Storage state kept under <state_dir>/data/.

Firestore: the emulator keeps documents in memory only. At stop (and before a restart of
the emulator) the stack asks it for an export (`POST /emulator/v1/projects/<p>:export`),
and the next start imports the newest complete export (`--import-data`). Only the last
export is kept. The emulator's own `--export-on-exit` writes nothing when it is sent
SIGTERM, hence the explicit call. A stack that is killed without an orderly stop
(SIGKILL of `up`) keeps the state of its previous orderly stop.

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


def latest_firestore_export(data_dir: Path) -> Path | None:
    """The metadata file of the newest export that was written completely."""
    root = firestore_dir(data_dir)
    if not root.is_dir():
        return None
    # The emulator names each export firestore_export_<epoch seconds>, and writes the
    # overall metadata file last: an export without it was interrupted.
    exports = sorted(
        (p for p in root.iterdir() if p.is_dir() and (p / f"{p.name}{_METADATA_SUFFIX}").exists()),
        key=lambda p: p.stat().st_mtime_ns,
    )
    return exports[-1] / f"{exports[-1].name}{_METADATA_SUFFIX}" if exports else None


def export_firestore(firestore_host: str, project_id: str, data_dir: Path) -> Path:
    """Export the project's documents; drop the older exports once this one is complete."""
    root = firestore_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    response = requests.post(
        f"http://{firestore_host}/emulator/v1/projects/{project_id}:export",
        json={
            "database": f"projects/{project_id}/databases/(default)",
            "export_directory": str(root),
        },
        timeout=EXPORT_TIMEOUT_SECONDS,
    )
    response.raise_for_status()
    latest = latest_firestore_export(data_dir)
    if latest is None:
        raise RuntimeError(f"the Firestore emulator reported an export but {root} holds none")
    for export in root.iterdir():
        if export.is_dir() and export != latest.parent:
            shutil.rmtree(export, ignore_errors=True)
    return latest
