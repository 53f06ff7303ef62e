"""The expert's review of a prepared dataset: which images an exclusion keeps, and the new
manifest version they make. Pure Python, no I/O.

An exclusion never moves a patient: every kept entry keeps the split it was frozen in (a
split is a patient's, datasets.split_of), so the new version is still split by patient,
with no patient in two splits; only the counts change. The version it replaces stays
stored under its own manifest id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from functions.data_services.datasets import Manifest, ManifestEntry
from functions.data_services.domain import DataServiceError, ManifestSummary

MAX_REPORTED_IDS = 5  # of the unknown image ids a refusal names (platform ids, never PHI)


def kept_entries(entries: Sequence[ManifestEntry], excluded: Iterable[str]) -> list[ManifestEntry]:
    """The entries left once `excluded` are taken out, in manifest order. Refused with
    `unknown_image` when an id is not in the manifest, `dataset_empty` when none is left."""
    wanted = set(excluded)
    present = {e.image_id for e in entries}
    unknown = sorted(wanted - present)
    if unknown:
        shown = ", ".join(unknown[:MAX_REPORTED_IDS])
        raise DataServiceError(
            "unknown_image",
            f"{len(unknown)} image id(s) not in the dataset: {shown}",
            field="image_ids",
        )
    kept = [e for e in entries if e.image_id not in wanted]
    if not kept:
        raise DataServiceError("dataset_empty", "an exclusion cannot take every image")
    return kept


def patients_in_one_split(entries: Iterable[ManifestEntry]) -> bool:
    """Whether no patient token is in two splits."""
    seen: dict[str, str] = {}
    for entry in entries:
        if seen.setdefault(entry.patient_token, entry.split) != entry.split:
            return False
    return True


def manifest_of(entries: list[ManifestEntry]) -> Manifest:
    """The manifest of these entries as they are (their splits kept), with its digest
    computed as datasets.build_manifest computes it."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(entry.json_line().encode() + b"\n")
    return Manifest(entries, digest.hexdigest())


def summary_of(manifest: Manifest, manifest_id: str, chunks: int) -> ManifestSummary:
    return ManifestSummary(
        manifest_id=manifest_id,
        images=len(manifest.entries),
        patients=manifest.patients,
        chunks=chunks,
        bytes=manifest.bytes,
        splits=manifest.splits,
        digest=manifest.digest,
    )
