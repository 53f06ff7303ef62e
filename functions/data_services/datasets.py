"""Datasets: criteria over the catalogue resolved into a frozen manifest. Pure Python.

A dataset is a saved query. When its service starts, the records that match are taken in
catalogue order (ingest time, then image id), at most `max_per_patient` per patient token
and at most `max_images` in all, and every patient token is put in one split by a keyed
hash: no patient crosses train, validation and test, and the same records always land in
the same splits. The manifest is then frozen: the service delivers exactly those images.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from functions.data_services.messages import DatasetCriteria, SplitRatios

CHUNK_SIZE = 500  # objects per DeliverChunk command: one function call copies at most this
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class CatalogueRecord:
    """One anonymized image as this context's projection keeps it."""

    image_id: str
    patient_token: str
    study_id: str
    data_source: str
    ingested_at: str
    uri: str
    size: int
    sha256: str
    modality: str | None = None
    anatomical_region: str | None = None
    pathology: str | None = None
    # Platform-internal link between centers' copies of one instance (ingestion's
    # instance_key): select() keeps the first copy only. Never in a manifest.
    instance_key: str | None = None


@dataclass(frozen=True)
class ManifestEntry:
    image_id: str
    patient_token: str
    study_id: str
    split: str
    uri: str
    sha256: str
    size: int
    modality: str | None
    anatomical_region: str | None
    pathology: str | None

    def delivered_name(self, prefix: str) -> str:
        return f"{prefix}{self.split}/{self.image_id}.dcm"

    def to_dict(self) -> dict[str, Any]:
        # dataclasses.asdict deep-copies every field: 20x slower, and a manifest has 10^5.
        return dict(vars(self))

    def json_line(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def matches(record: CatalogueRecord, criteria: DatasetCriteria) -> bool:
    """Whether a record meets the criteria (normalized: domain.normalized_criteria)."""
    for wanted, value in (
        (criteria.modality, record.modality),
        (criteria.anatomical_region, record.anatomical_region),
        (criteria.pathology, record.pathology),
    ):
        if wanted is not None and value != wanted:
            return False
    if criteria.sources and record.data_source not in criteria.sources:
        return False
    if criteria.ingested_from and record.ingested_at < criteria.ingested_from:
        return False
    return not (criteria.ingested_to and record.ingested_at >= criteria.ingested_to)


def first_copies(records: Iterable[CatalogueRecord]) -> Iterator[CatalogueRecord]:
    """The records without another center's copy of an instance already given (a referral:
    the same `instance_key`): one instance is counted once, in datasets and in the counts
    (docs/decisions/0013-referrals.md)."""
    instances: set[str] = set()
    for record in records:
        if record.instance_key is not None:
            if record.instance_key in instances:
                continue
            instances.add(record.instance_key)
        yield record


def select(
    records: Iterable[CatalogueRecord], criteria: DatasetCriteria, limit: int
) -> list[CatalogueRecord]:
    """The matching records, in the order given (catalogue order), under the per-patient
    cap; at most `limit` + 1, so that a caller can tell "more than the limit" apart."""
    per_patient: dict[str, int] = {}
    chosen: list[CatalogueRecord] = []
    cap = criteria.max_per_patient
    for record in first_copies(r for r in records if matches(r, criteria)):
        seen = per_patient.get(record.patient_token, 0)
        if cap is not None and seen >= cap:
            continue
        per_patient[record.patient_token] = seen + 1
        chosen.append(record)
        if len(chosen) > limit:
            break
    return chosen


def resolve(
    records: Iterable[CatalogueRecord], criteria: DatasetCriteria, plan_max_images: int
) -> list[CatalogueRecord]:
    """The records a dataset holds, as a service's prepare resolves them: at most
    `max_images` when the criteria cap it; otherwise at most the plan's allowance + 1, so
    that a dataset larger than the plan is told apart (and refused). The quote
    (queries.dataset_quote) resolves through here."""
    limit = criteria.max_images or plan_max_images
    chosen = select(records, criteria, limit)
    return chosen[:limit] if criteria.max_images is not None else chosen


def split_of(dataset_code: str, patient_token: str, ratios: SplitRatios) -> str:
    """The split of a patient: a hash of (dataset, patient), so one patient is in one split
    of a dataset, and datasets do not all put the same patients in test."""
    digest = hashlib.sha256(f"{dataset_code}\x00{patient_token}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % 10_000 / 100  # 0.00 .. 99.99
    if point < ratios.train:
        return "train"
    if point < ratios.train + ratios.validation:
        return "validation"
    return "test"


@dataclass(frozen=True)
class Manifest:
    entries: list[ManifestEntry]
    digest: str  # sha256 of the JSON Lines manifest: the same images give the same digest

    @property
    def patients(self) -> int:
        return len({e.patient_token for e in self.entries})

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def splits(self) -> dict[str, int]:
        counts = dict.fromkeys(SPLITS, 0)
        for entry in self.entries:
            counts[entry.split] += 1
        return counts

    def chunks(self, size: int = CHUNK_SIZE) -> Iterator[list[ManifestEntry]]:
        for start in range(0, len(self.entries), size):
            yield self.entries[start : start + size]


def build_manifest(
    dataset_code: str, records: Iterable[CatalogueRecord], ratios: SplitRatios
) -> Manifest:
    entries = [
        ManifestEntry(
            image_id=r.image_id,
            patient_token=r.patient_token,
            study_id=r.study_id,
            split=split_of(dataset_code, r.patient_token, ratios),
            uri=r.uri,
            sha256=r.sha256,
            size=r.size,
            modality=r.modality,
            anatomical_region=r.anatomical_region,
            pathology=r.pathology,
        )
        for r in records
    ]
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(entry.json_line().encode() + b"\n")
    return Manifest(entries, digest.hexdigest())


def checksum_line(entry: ManifestEntry, prefix: str) -> str:
    """One line of the checksum list, in `sha256sum -c` format, relative to the prefix."""
    return f"{entry.sha256}  {entry.delivered_name(prefix)[len(prefix) :]}"
