"""The ingestion domain: what an upload is, where its results go, what a record holds.

Pure Python: no I/O and no cloud imports. Object names of uploads may carry PHI (a file
called after the patient), so everything derived from them for events, logs and output
names goes through keyed or hashed ids instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.domain.errors import PermanentError
from shared.ports.envelope import derived_id

MiB = 1024 * 1024
GiB = 1024 * MiB
# Entries of a package are grouped in blocks: an entry checks only its block, and only the
# entry that completes a block checks the blocks, so completion costs O(block + blocks)
# reads instead of O(entries) per entry, with no document written by every entry.
COMPLETION_BLOCK = 64
_CENTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ZIP_TYPES = frozenset({"application/zip", "application/x-zip-compressed"})
_CODE_MAX = 128
_HISTORY_MAX = 16_384


@dataclass(frozen=True)
class IngestionLimits:
    """Size limits; beyond them an upload is quarantined unread.

    Configurable per deployment with SALUDTECH_INGEST_MAX_FILE_BYTES, _MAX_ZIP_BYTES,
    _MAX_ENTRIES and _MAX_RATIO (see `from_environment`)."""

    max_file_bytes: int = 512 * MiB
    max_zip_bytes: int = 4 * GiB
    max_entries: int = 20_000
    max_ratio: float = 200.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> IngestionLimits:
        def value(name: str, default: float) -> float:
            raw = environ.get(f"SALUDTECH_INGEST_{name.upper()}", "").strip()
            return float(raw) if raw else default

        defaults = cls()
        return cls(
            max_file_bytes=int(value("max_file_bytes", defaults.max_file_bytes)),
            max_zip_bytes=int(value("max_zip_bytes", defaults.max_zip_bytes)),
            max_entries=int(value("max_entries", defaults.max_entries)),
            max_ratio=value("max_ratio", defaults.max_ratio),
        )


@dataclass(frozen=True)
class Descriptors:
    """The optional metadata a center attaches to an upload (custom object metadata)."""

    pathology: str | None = None
    anatomical_region: str | None = None
    clinical_history: str | None = None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> Descriptors:
        def code(key: str) -> str | None:
            value = str(metadata.get(key) or "").strip()
            return value[:_CODE_MAX].upper() or None

        history = str(metadata.get("clinical_history") or "").strip()[:_HISTORY_MAX]
        return cls(code("pathology"), code("anatomical_region"), history or None)


@dataclass(frozen=True)
class Upload:
    """An object finalized in the ingest bucket: one DICOM file or a zip of a study."""

    bucket: str
    name: str
    generation: int
    size: int
    content_type: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_event(cls, data: Any) -> Upload:
        """From the data of a `google.cloud.storage.object.v1.finalized` CloudEvent."""
        if not isinstance(data, Mapping):
            raise PermanentError("not_a_storage_object", "the event data is not an object")
        try:
            return cls(
                bucket=str(data["bucket"]),
                name=str(data["name"]),
                generation=int(data["generation"]),
                size=int(data.get("size") or 0),
                content_type=str(data.get("contentType") or ""),
                metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as error:
            raise PermanentError("not_a_storage_object", "bucket, name or generation") from error

    @property
    def unit_id(self) -> str:
        """The idempotency key: one upload is one generation of one name."""
        return derived_id("gcs-object", self.bucket, self.name, str(self.generation))

    @property
    def center_id(self) -> str | None:
        """The health center: the first folder of the name (`<center_id>/...`)."""
        head, slash, _ = self.name.partition("/")
        return head if slash and _CENTER.match(head) else None

    @property
    def is_package(self) -> bool:
        return self.name.lower().endswith(".zip") or self.content_type in _ZIP_TYPES

    @property
    def descriptors(self) -> Descriptors:
        return Descriptors.from_metadata(self.metadata)

    def too_large(self, limits: IngestionLimits) -> bool:
        limit = limits.max_zip_bytes if self.is_package else limits.max_file_bytes
        return self.size > limit


def entry_unit_id(package_id: str, index: int) -> str:
    return derived_id(package_id, "entry", str(index))


def anonymized_name(patient_token: str, study: str, series: str, instance: str) -> str:
    return f"{patient_token}/{study}/{series}/{instance}.dcm"


def quarantine_name(center_id: str, unit_id: str) -> str:
    return f"{center_id}/{unit_id}"


def reason_name(quarantined: str) -> str:
    return f"{quarantined}.reason.json"


def block_of(index: int) -> int:
    return index // COMPLETION_BLOCK


def block_count(entry_count: int) -> int:
    return (entry_count + COMPLETION_BLOCK - 1) // COMPLETION_BLOCK


def block_size(block: int, entry_count: int) -> int:
    return min(COMPLETION_BLOCK, entry_count - block * COMPLETION_BLOCK)
