"""The BlobStore port: objects in buckets, read as seekable streams, written create-only.

Adapters: shared/adapters/memory_blob_store.py (unit tests) and
shared/adapters/gcs_blob_store.py (Cloud Storage or fake-gcs-server). Both pass
tests/contract/test_blob_store.py. Generations are Cloud Storage's: every write of a name
gets a new one, and a precondition on it makes a write or delete exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from shared.domain.errors import TransientError


# Errors name the bucket, never the object: names of uploads may carry PHI.
class BlobNotFound(Exception):
    """The object (or that generation of it) does not exist."""


class BlobExists(Exception):
    """A create-only write found the name taken (Cloud Storage answers 412)."""


class BlobUnavailable(TransientError):
    """The store did not answer; worth retrying."""


@dataclass(frozen=True)
class BlobInfo:
    bucket: str
    name: str
    generation: int
    size: int
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class BlobStore(Protocol):
    def stat(self, bucket: str, name: str) -> BlobInfo | None:
        """The live generation of an object, or None."""

    def open_read(
        self, bucket: str, name: str, *, generation: int | None = None, size: int | None = None
    ) -> BinaryIO:
        """A seekable stream that reads the object in ranges (never the whole object at
        once); `size`, when known, saves a metadata round trip. BlobNotFound if absent."""

    def read_bytes(self, bucket: str, name: str, *, generation: int | None = None) -> bytes:
        """The whole object: for small objects only."""

    def write(
        self,
        bucket: str,
        name: str,
        data: bytes | BinaryIO,
        *,
        create_only: bool = True,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> BlobInfo:
        """Store `data` (a stream is read from its current position). With create_only the
        write fails with BlobExists when the name is taken (if_generation_match=0)."""

    def copy(
        self,
        src_bucket: str,
        src_name: str,
        dst_bucket: str,
        dst_name: str,
        *,
        src_generation: int | None = None,
    ) -> BlobInfo:
        """Server-side copy (the bytes never pass through the caller); overwrites."""

    def delete(self, bucket: str, name: str, *, generation: int | None = None) -> bool:
        """Delete the object (only that generation, when given). False when there was
        nothing to delete: it is gone already, or a newer generation replaced it."""

    def list_names(self, bucket: str, prefix: str = "") -> list[str]: ...
