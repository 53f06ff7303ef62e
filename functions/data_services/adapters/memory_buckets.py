"""Buyers' buckets in memory: a bucket takes writes only once its owner granted the
delivery account roles/storage.objectCreator, and then only creations, as Cloud Storage
does (no read, no list, no overwrite, no delete). Unit tests and the contract suite use it
to see a probe refused and a delivery into a bucket the platform cannot read back."""

from __future__ import annotations

from typing import BinaryIO

from shared.adapters.memory_blob_store import InMemoryBlobStore
from shared.ports.blobs import BlobInfo


class Forbidden(Exception):
    """Cloud Storage's 403, by the name the delivery target recognises."""


class InMemoryBuyerBuckets:
    def __init__(self, granted: set[str] | None = None) -> None:
        self.objects = InMemoryBlobStore()  # what the buyers hold (tests read it here)
        self.granted: set[str] = set(granted or ())

    def _check(self, bucket: str, operation: str) -> None:
        if bucket not in self.granted or operation != "create":
            raise Forbidden(f"{operation} refused in {bucket}")

    def stat(self, bucket: str, name: str) -> BlobInfo | None:
        self._check(bucket, "read")
        return None

    def open_read(
        self, bucket: str, name: str, *, generation: int | None = None, size: int | None = None
    ) -> BinaryIO:
        self._check(bucket, "read")
        raise AssertionError("unreachable")

    def read_bytes(self, bucket: str, name: str, *, generation: int | None = None) -> bytes:
        self._check(bucket, "read")
        raise AssertionError("unreachable")

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
        self._check(bucket, "create" if create_only else "overwrite")
        return self.objects.write(bucket, name, data, content_type=content_type, metadata=metadata)

    def copy(
        self,
        src_bucket: str,
        src_name: str,
        dst_bucket: str,
        dst_name: str,
        *,
        src_generation: int | None = None,
    ) -> BlobInfo:
        self._check(dst_bucket, "overwrite")  # a copy overwrites: more than creation
        raise AssertionError("unreachable")

    def delete(self, bucket: str, name: str, *, generation: int | None = None) -> bool:
        self._check(bucket, "delete")
        return False

    def list_names(self, bucket: str, prefix: str = "") -> list[str]:
        self._check(bucket, "list")
        return []
